"""Lambda faults at run time: which invocations time out or crash, and when their side effects began.

The runner draws once per invocation (:meth:`LambdaFaults.draw`): rules are tried in order and the first
that fires picks the invocation, a share drawing from a generator seeded with the seed and the rule's
text. While a picked invocation runs, the fault layer in front of the AWS endpoint reports each call its
worker makes (a worker signs with a session token of its own, ``X-Amz-Security-Token``); right after the
rule's ``write``-th successful write call the runner's trigger stops or kills the worker. A write is any
call but a read (``Get*``, ``List*``, ``Describe*``, ``Head*``, ``Query``, ``Scan``, ``BatchGet*``,
``Receive*``, ``Select*``) of the services in :data:`WATCHED_SERVICES`, the ones the handler calls.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mailflow_cli.local.faults.calls import Call
from mailflow_cli.local.faults.rules import Always, First, LambdaFault
from mailflow_cli.local.guard import Environ

WATCHED_SERVICES = frozenset({"s3", "sqs", "dynamodb", "sesv2", "ses", "sns"})
READ_PREFIXES = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet", "Receive", "Select")


def is_write(call: Call) -> bool:
    return not call.operation.startswith(READ_PREFIXES)


def session_token(environ: Environ) -> str | None:
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    return str(token) if token else None


@dataclass(frozen=True)
class Drawn:
    """The fault an invocation was picked for, and the index of the rule that picked it."""

    index: int
    fault: LambdaFault


@dataclass
class _Rule:
    fault: LambdaFault
    random: random.Random
    tried: int = 0
    injected: int = 0

    def fires(self) -> bool:
        self.tried += 1
        when = self.fault.when
        if isinstance(when, Always):
            return True
        if isinstance(when, First):
            return self.tried <= when.count
        return self.random.random() < when.share


@dataclass
class _Watched:
    drawn: Drawn
    trigger: Callable[[Call], None]
    writes: int = 0
    fired: bool = False


class LambdaFaults:
    """Thread-safe: invocations run on several threads, and the endpoint serves each call on its own."""

    services = WATCHED_SERVICES

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: tuple[_Rule, ...] = ()
        self._watched: dict[str, _Watched] = {}

    def set_rules(self, faults: Sequence[LambdaFault], seed: int) -> None:
        """Replace the rules; counters and generators start afresh."""
        with self._lock:
            self._rules = tuple(
                _Rule(fault, random.Random(f"{seed}/lambda/{index}/{fault.to_text()}"))
                for index, fault in enumerate(faults)
            )

    @property
    def rules(self) -> tuple[LambdaFault, ...]:
        return tuple(rule.fault for rule in self._rules)

    def injected_by_rule(self) -> tuple[int, ...]:
        """How many invocations each rule timed out or crashed since it was set, in the rules' order."""
        with self._lock:
            return tuple(rule.injected for rule in self._rules)

    def draw(self) -> Drawn | None:
        """The fault of the next invocation, or None (one draw per invocation and rule, in order)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.fires():
                    return Drawn(index, rule.fault)
        return None

    @contextlib.contextmanager
    def watching(self, token: str, drawn: Drawn, trigger: Callable[[Call], None]) -> Iterator[None]:
        """While the invocation runs, its worker's calls (signed with ``token``) count towards the fault;
        ``trigger`` is called once, with the write call that completed the count."""
        with self._lock:
            self._watched[token] = _Watched(drawn, trigger)
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(token, None)

    def wants(self, environ: Environ) -> bool:
        """Whether the request comes from a worker whose invocation is watched (checked before it is read)."""
        token = session_token(environ)
        return token is not None and token in self._watched

    def completed(self, environ: Environ, call: Call, status: int) -> None:
        """A watched worker's call ended with ``status``: count a successful write, and trigger at the Nth."""
        token = session_token(environ)
        if token is None or not 200 <= status < 300 or not is_write(call):
            return
        with self._lock:
            watched = self._watched.get(token)
            if watched is None or watched.fired:
                return
            watched.writes += 1
            if watched.writes < watched.drawn.fault.write:
                return
            watched.fired = True
            rules = self._rules
            if watched.drawn.index < len(rules) and rules[watched.drawn.index].fault == watched.drawn.fault:
                rules[watched.drawn.index].injected += 1
        watched.trigger(call)
