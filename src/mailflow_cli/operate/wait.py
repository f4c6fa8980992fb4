"""``mailflow wait``: which messages match ``--subject``, ``--from`` and ``--match`` (a JSONPath subset).

A path is ``$`` followed by steps, each ``.name`` (letters, digits, ``_`` and ``-``) or ``[N]`` (a list
index, from 0): ``$.email.attachments[0].filename``. ``PATH=VALUE`` holds when the path leads to a value
equal to VALUE: a string value is compared with VALUE as text; any other value (a number, ``true``,
``false``, ``null``) with VALUE read as JSON (``$.attempt=2``, ``$.retry=false``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.errors import UsageError
from mailflow_cli.operate import queue_wait

_STEP = re.compile(r"\.(?P<name>[A-Za-z0-9_-]+)|\[(?P<index>\d{1,9})\]")
PATH_HELP = "$ then .name or [N] steps, e.g. $.email.subject or $.email.to[0].address"


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Any of the stack's queues; the matching message is deleted with ``--delete``."""
    return queue_wait.permissions(scopes.queues)


@dataclass(frozen=True)
class Match:
    """One ``--match PATH=VALUE``."""

    text: str
    steps: tuple[str | int, ...]
    value: str

    def holds(self, body: Any) -> bool:
        found = body
        for step in self.steps:
            in_list = isinstance(step, int) and isinstance(found, list) and step < len(found)
            in_object = isinstance(step, str) and isinstance(found, dict) and step in found
            if not (in_list or in_object):
                return False
            found = found[step]
        return _equal(found, self.value)


def _equal(found: Any, text: str) -> bool:
    if isinstance(found, str):
        return found == text
    try:
        wanted = json.loads(text)
    except ValueError:
        return False
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found is wanted
    return bool(found == wanted)


def parse_match(text: str) -> Match:
    """``PATH=VALUE``; :class:`UsageError` (exit 2) naming what is wrong."""
    path, equals, value = text.partition("=")
    if not equals:
        raise UsageError(f"--match {text!r}: there is no '=' between the path and the value", hint=PATH_HELP)
    if not path.startswith("$"):
        raise UsageError(f"--match {text!r}: a path starts with $", hint=PATH_HELP)
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            raise UsageError(
                f"--match {text!r}: the path is not understood from {path[position:]!r}", hint=PATH_HELP
            )
        steps.append(step["name"] if step["name"] is not None else int(step["index"]))
        position = step.end()
    return Match(text=text, steps=tuple(steps), value=value)


def _text_at(body: Any, *keys: str) -> str | None:
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body if isinstance(body, str) else None


@dataclass(frozen=True)
class MessageFilter:
    """Every given condition must hold: the subject contains ``subject``, the envelope sender or the From
    address is ``sender`` (case-insensitive), and each ``--match``."""

    subject: str | None = None
    sender: str | None = None
    matches: tuple[Match, ...] = ()

    def __call__(self, body: Any) -> bool:
        if self.subject is not None and self.subject not in (_text_at(body, "email", "subject") or ""):
            return False
        if self.sender is not None:
            addresses = {
                (_text_at(body, "envelope", "mailFrom") or "").lower(),
                (_text_at(body, "email", "from", "address") or "").lower(),
            }
            if self.sender.lower() not in addresses:
                return False
        return all(match.holds(body) for match in self.matches)

    def describe(self) -> str:
        parts = [f"subject containing {self.subject!r}"] if self.subject is not None else []
        if self.sender is not None:
            parts.append(f"from {self.sender}")
        parts += [match.text for match in self.matches]
        return "a message" + (f" ({', '.join(parts)})" if parts else "")
