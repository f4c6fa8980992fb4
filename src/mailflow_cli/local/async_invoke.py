"""Asynchronous (``InvocationType: Event``) invocation, as SES invokes a LambdaAction.

On a function error Lambda retries twice, then sends the event to the function's dead-letter queue
(``DeadLetterConfig.TargetArn``, an SQS queue) if it has one. Lambda waits about one and two minutes
between the attempts; the emulator waits ``retry_delays`` (short by default, see docs/local.md), but never
less than the failed attempt's ``settle_seconds``: after a timeout or a crash, until the attempt's
deadline has passed (its idempotency lock then has expired, as on AWS a minute later). A waiting retry
holds no thread. A function the runner refuses to run (not Mailflow's handler) is neither retried nor
dead-lettered. Retries still waiting when the emulator stops go to the dead-letter queue at once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mailflow_cli.local.lambda_runner import REFUSED_ERROR_TYPE, InvokeResult, LambdaRunner

log = logging.getLogger("mailflow.local.async")

DEFAULT_RETRY_DELAYS = (0.5, 1.0)


def queue_name_and_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[5], parts[4]


@dataclass(eq=False)
class _Event:
    """One asynchronous event: its attempts so far, the future its submitter holds, its retry's timer."""

    function: str
    event: Any
    done: Future[InvokeResult | None]
    attempt: int = 0
    last: InvokeResult | None = None
    timer: threading.Timer | None = None


class AsyncInvoker:
    """Runs ``Event`` invocations in a small thread pool: retries, then the function's dead-letter queue."""

    def __init__(
        self,
        runner: LambdaRunner,
        sqs_client: Any,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        max_workers: int = 4,
    ) -> None:
        self._runner = runner
        self._sqs = sqs_client
        self._delays = tuple(retry_delays)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda-async")
        self._lock = threading.Lock()
        self._waiting: set[_Event] = set()
        self._stopping = False

    def submit(self, function: str, event: Any) -> Future[InvokeResult | None]:
        """The last attempt's result, once the event succeeded or was dead-lettered."""
        pending = _Event(function, event, Future())
        self._pool.submit(self._attempt, pending)
        return pending.done

    def _attempt(self, pending: _Event) -> None:
        pending.attempt += 1
        try:
            result = self._runner.invoke(pending.function, pending.event)
        except Exception:
            log.exception(
                "async invocation of %s could not start (attempt %d)", pending.function, pending.attempt
            )
            result = None
        if result is not None and (
            not result.failed or (result.error or {}).get("errorType") == REFUSED_ERROR_TYPE
        ):
            pending.done.set_result(result)
            return
        if result is not None:
            log.warning(
                "async invocation of %s failed (attempt %d): %s",
                pending.function,
                pending.attempt,
                result.error,
            )
            pending.last = result
        if pending.attempt > len(self._delays):
            self._finish(pending)
            return
        delay = max(self._delays[pending.attempt - 1], result.settle_seconds if result is not None else 0.0)
        self._retry_after(delay, pending)

    def _retry_after(self, delay: float, pending: _Event) -> None:
        with self._lock:
            stopping = self._stopping
            if not stopping:
                pending.timer = threading.Timer(delay, self._due, args=(pending,))
                pending.timer.daemon = True
                self._waiting.add(pending)
                pending.timer.start()
        if stopping:
            self._finish(pending)

    def _due(self, pending: _Event) -> None:
        with self._lock:
            if pending not in self._waiting:  # the invoker is stopping and has taken it over
                return
            self._waiting.discard(pending)
            self._pool.submit(self._attempt, pending)

    def _finish(self, pending: _Event) -> None:
        """Dead-letter the event after its last attempt, and tell the submitter."""
        try:
            self._dead_letter(pending.function, pending.event, pending.last)
        except Exception:
            log.exception("could not dead-letter an async event for %s", pending.function)
        finally:
            pending.done.set_result(pending.last)

    def _dead_letter(self, function: str, event: Any, result: InvokeResult | None) -> None:
        try:
            target = self._runner.function(function).dead_letter_arn
        except Exception:
            log.exception("cannot read the dead-letter configuration of %s", function)
            return
        if not target or ":sqs:" not in target:
            log.warning("async event for %s dropped after its retries (no SQS dead-letter queue)", function)
            return
        name, account = queue_name_and_account(target)
        url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        error = (result.error if result else None) or {}
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": result.request_id if result else "-"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": str(error.get("errorMessage", ""))[:1024] or "-",
            },
        }
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes=attributes)

    def close(self) -> None:
        """Running attempts finish; retries still waiting are dead-lettered now."""
        with self._lock:
            self._stopping = True
            waiting = list(self._waiting)
            self._waiting.clear()
        for pending in waiting:
            if pending.timer is not None:
                pending.timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)
        for pending in waiting:
            self._finish(pending)


def invoke_api(runner: LambdaRunner, invoker: AsyncInvoker) -> Callable[[str, Any, str], tuple[bytes, bool]]:
    """What Lambda's Invoke API does in the emulator, by invocation type: ``Event`` is queued (202),
    ``DryRun`` runs nothing, ``RequestResponse`` runs the function and answers its result or error."""

    def invoke(function_arn: str, event: Any, invocation_type: str) -> tuple[bytes, bool]:
        if invocation_type == "DryRun":
            return b"", False
        if invocation_type == "Event":
            invoker.submit(function_arn, event)
            return b"", False
        result = runner.invoke(function_arn, event)
        return json.dumps(result.error if result.failed else result.payload).encode(), result.failed

    return invoke
