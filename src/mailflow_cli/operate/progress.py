"""Progress shown on stderr while a command waits (nothing when stderr is not a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.status import Status

from mailflow_cli.console import err


@contextmanager
def waiting(message: str) -> Iterator[Status]:
    """A spinner whose text the caller updates with ``status.update(...)``."""
    status = Status(message, console=err, spinner="dots")
    if err.is_terminal:
        status.start()
    try:
        yield status
    finally:
        if err.is_terminal:
            status.stop()
