"""The clock every waiting command uses; tests replace it so that no test sleeps or reads the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float]
    sleep: Callable[[float], None]
    # Seconds an SQS receive may block. A test clock sets 0 (short polls) and advances time in sleep().
    receive_wait_seconds: int = 20


SYSTEM_CLOCK = Clock(now=time.time, sleep=time.sleep)

_current: list[Clock] = [SYSTEM_CLOCK]


def current_clock() -> Clock:
    return _current[0]


def use_clock(clock: Clock) -> None:
    """Make ``clock`` the one commands use (tests only)."""
    _current[0] = clock


class FakeClock:
    """Time that only moves when someone sleeps; for tests and demos."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.time = start
        self.slept: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None  # called with the number of sleeps so far

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += max(seconds, 0.0)
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))

    def as_clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep, receive_wait_seconds=0)
