"""Progress events: the engine reports, the CLI renders (tests may just collect them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    STARTED = "started"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ProgressEvent:
    key: str
    action: str
    status: Status
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(_event: ProgressEvent) -> None:
    return None


@dataclass(frozen=True)
class StepReporter:
    """Handed to a handler method so that it can say what it is waiting for."""

    key: str
    action: str
    callback: ProgressCallback

    def waiting(self, what: str) -> None:
        self.callback(ProgressEvent(self.key, self.action, Status.WAITING, what))

    def note(self, what: str) -> None:
        self.callback(ProgressEvent(self.key, self.action, Status.STARTED, what))
