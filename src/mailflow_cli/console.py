"""Where output goes, and how it is rendered.

Data goes to stdout and progress and messages to stderr, so that ``--json`` output stays clean.

Neither console interprets rich markup or emoji codes. Text from mail, apps, AWS or the user (a subject
such as ``[link=https://…]Invoice[/link]``, an error hint such as ``pip install 'mailflow[local]'``)
is therefore printed as it is. Styling is explicit: build it with :func:`styled`, which never parses
its arguments.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True, highlight=False, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, markup=False, emoji=False)

Part = str | tuple[str, str]


def styled(*parts: Part) -> Text:
    """Literal text: each part is a string, or a ``(text, style)`` pair such as ``("Error:", "bold red")``.

    Nothing in a part is read as markup, so untrusted text can be passed as it is."""
    return Text.assemble(*parts)


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


_TERMINAL_CONTROLS = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"


def terminal_safe(data: bytes) -> bytes:
    """Bytes for a terminal: C0 controls other than tab and line ends, and DEL, shown as ``\\xNN``
    (an ESC from a mail could otherwise drive the terminal)."""
    if not any(byte in _TERMINAL_CONTROLS for byte in data):
        return data
    return b"".join(b"\\x%02x" % byte if byte in _TERMINAL_CONTROLS else bytes((byte,)) for byte in data)
