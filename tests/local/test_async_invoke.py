"""Asynchronous invocation's retries: after a timeout or a crash, not before the attempt's deadline has
passed (its idempotency lock then has expired, as it has on AWS when Lambda retries a minute later); a
waiting retry holds no thread; retries still waiting when the emulator stops are dead-lettered."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from mailflow_cli.local.async_invoke import AsyncInvoker
from mailflow_cli.local.lambda_runner import InvokeResult

FAILED = {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: signal: killed"}


class Scripted:
    """Stands in for the Lambda runner: answers each function's invocations from a script, in order."""

    def __init__(self, script: dict[str, list[InvokeResult]]) -> None:
        self.script = script
        self.calls: list[tuple[str, float]] = []
        self.dead_letter_reads: list[str] = []
        self.lock = threading.Lock()

    def invoke(self, function: str, event: Any) -> InvokeResult:
        with self.lock:
            self.calls.append((function, time.monotonic()))
            return self.script[function].pop(0)

    def function(self, name: str) -> Any:
        self.dead_letter_reads.append(name)
        return SimpleNamespace(dead_letter_arn=None)


def test_a_crashed_attempt_is_retried_after_it_settled_and_other_events_do_not_wait() -> None:
    runner = Scripted(
        {
            "a": [InvokeResult("1", error=FAILED, settle_seconds=0.3), InvokeResult("2", payload="ok")],
            "b": [InvokeResult("3", payload="ok")],
        }
    )
    invoker = AsyncInvoker(runner, None, retry_delays=(0.0, 0.0), max_workers=1)  # type: ignore[arg-type]
    try:
        first = invoker.submit("a", {})
        second = invoker.submit("b", {})
        assert second.result(timeout=10) is not None
        result = first.result(timeout=10)
    finally:
        invoker.close()
    assert result is not None
    assert result.payload == "ok"
    assert [name for name, _ in runner.calls] == ["a", "b", "a"], "b ran while a's retry waited"
    assert runner.calls[2][1] - runner.calls[0][1] >= 0.3
    assert runner.dead_letter_reads == []


def test_retries_still_waiting_when_the_emulator_stops_are_dead_lettered() -> None:
    runner = Scripted({"a": [InvokeResult("1", error=FAILED, settle_seconds=60.0)]})
    invoker = AsyncInvoker(runner, None, retry_delays=(0.0, 0.0))  # type: ignore[arg-type]
    pending = invoker.submit("a", {})
    for _ in range(200):
        if runner.calls:
            break
        time.sleep(0.01)
    invoker.close()  # the attempt finishes, then its retry (waiting, or not yet scheduled) is dead-lettered
    result = pending.result(timeout=5)
    assert result is not None
    assert result.error == FAILED
    assert runner.dead_letter_reads == ["a"]
    assert len(runner.calls) == 1
