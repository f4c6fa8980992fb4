"""Asynchronous (``InvocationType: Event``) invocation, as SES invokes a LambdaAction.

On a function error Lambda retries twice, then sends the event to the function's dead-letter queue
(``DeadLetterConfig.TargetArn``, an SQS queue) if it has one. Lambda waits about one and two minutes
between the attempts; the emulator waits ``retry_delays`` (short by default, see docs/local.md).
A function the runner refuses to run (not Mailflow's handler) is neither retried nor dead-lettered.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mailflow_cli.local.lambda_runner import REFUSED_ERROR_TYPE, InvokeResult, LambdaRunner

log = logging.getLogger("mailflow.local.async")

DEFAULT_RETRY_DELAYS = (0.5, 1.0)


def queue_name_and_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[5], parts[4]


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
        self._stopping = threading.Event()

    def submit(self, function: str, event: Any) -> Future[InvokeResult | None]:
        return self._pool.submit(self.run, function, event)

    def run(self, function: str, event: Any) -> InvokeResult | None:
        """Attempts, then the dead-letter queue; returns the last attempt's result."""
        result: InvokeResult | None = None
        for attempt, delay in enumerate((0.0, *self._delays)):
            if delay and self._stopping.wait(delay):
                break
            try:
                result = self._runner.invoke(function, event)
            except Exception:
                log.exception("async invocation of %s could not start (attempt %d)", function, attempt + 1)
                continue
            if not result.failed or (result.error or {}).get("errorType") == REFUSED_ERROR_TYPE:
                return result
            log.warning("async invocation of %s failed (attempt %d): %s", function, attempt + 1, result.error)
        self._dead_letter(function, event, result)
        return result

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
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=False)


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
