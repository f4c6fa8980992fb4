"""SQS event source mappings, run the way Lambda runs them.

Each enabled mapping gets poller threads, as many as the batches Lambda runs at once for it
(``ScalingConfig.MaximumConcurrency``, at most :data:`MAX_CONCURRENT_BATCHES`): each long-polls the queue
for up to ``BatchSize`` messages, keeps collecting until the batch is full or
``MaximumBatchingWindowInSeconds`` has passed, and invokes the function synchronously with an SQS event.
On success it deletes the batch; with ``ReportBatchItemFailures`` it deletes all but the reported
failures (an invalid report fails the whole batch); on a function error it deletes nothing. Messages left
in the queue become visible again and are received again, so the queue's redrive policy moves a poison
message to its dead-letter queue.

Only mappings whose function the runner would run (Mailflow's handler, see
:mod:`mailflow_cli.local.trusted_code`) are polled: the queue of any other mapping is left alone.

Relaxation (documented in docs/local.md): a message that is left after a failure is made visible again
after ``failure_visibility_seconds`` (ChangeMessageVisibility) instead of the queue's visibility timeout,
but not before the failed invocation's ``settle_seconds`` (after a timeout or a crash: once its deadline
has passed, so the lock it took has expired, as it has on AWS when the visibility timeout ends).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailflow_cli.local.lambda_runner import InvokeResult
from mailflow_cli.local.trusted_code import FunctionRefused

log = logging.getLogger("mailflow.local.esm")

MAX_CONCURRENT_BATCHES = 5
"""Lambda polls an SQS queue with five concurrent batches to begin with and scales up from there (to the
mapping's MaximumConcurrency); the emulator stays at five at most: one warm worker process each."""

Invoke = Callable[[str, Any], InvokeResult]
Trust = Callable[[str], object]
"""Raises FunctionRefused for a function the emulator does not run (given its ARN)."""


@dataclass(frozen=True)
class Mapping:
    uuid: str
    function_arn: str
    queue_arn: str
    batch_size: int
    window_seconds: float
    report_failures: bool
    concurrency: int = 1
    """Batches run at once."""

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Mapping:
        maximum = (item.get("ScalingConfig") or {}).get("MaximumConcurrency")
        return cls(
            uuid=str(item["UUID"]),
            function_arn=str(item["FunctionArn"]),
            queue_arn=str(item["EventSourceArn"]),
            batch_size=int(item.get("BatchSize") or 10),
            window_seconds=float(item.get("MaximumBatchingWindowInSeconds") or 0),
            report_failures="ReportBatchItemFailures" in (item.get("FunctionResponseTypes") or []),
            concurrency=min(int(maximum or MAX_CONCURRENT_BATCHES), MAX_CONCURRENT_BATCHES),
        )


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes") or {}
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            key: str(attributes[key])
            for key in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "SequenceNumber",
                "MessageGroupId",
                "MessageDeduplicationId",
            )
            if key in attributes
        },
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: InvokeResult, batch_ids: set[str], report_failures: bool) -> set[str]:
    """The message ids to leave in the queue after an invocation, as Lambda decides them."""
    if result.failed:
        return set(batch_ids)
    if not report_failures or not isinstance(result.payload, dict):
        return set()
    failures = result.payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    reported: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)  # Lambda treats an invalid response as a failure of the whole batch
        reported.add(identifier)
    return reported


class MappingPoller:
    """Polls one mapping until stopped, with ``mapping.concurrency`` threads (one batch each at a time)."""

    def __init__(
        self,
        mapping: Mapping,
        *,
        sqs_client: Any,
        invoke: Invoke,
        region: str,
        failure_visibility_seconds: int,
        wait_seconds: int = 1,
    ) -> None:
        self.mapping = mapping
        self._sqs = sqs_client
        self._invoke = invoke
        self._region = region
        self._failure_visibility = failure_visibility_seconds
        self._wait = wait_seconds
        self._stop = threading.Event()
        self._url: str | None = None
        self.threads = [
            threading.Thread(target=self._loop, name=f"esm-{mapping.uuid[:8]}-{number}", daemon=True)
            for number in range(max(1, mapping.concurrency))
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def queue_url(self) -> str:
        if self._url is None:
            parts = self.mapping.queue_arn.split(":")
            self._url = str(
                self._sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            )
        return self._url

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url(),
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def collect_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(min(self.mapping.batch_size, 10), self._wait)
        if not batch:
            return batch
        deadline = time.monotonic() + self.mapping.window_seconds
        while len(batch) < self.mapping.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(
                min(self.mapping.batch_size - len(batch), 10), min(int(remaining + 0.999), 20)
            )
            if not more:
                break
            batch.extend(more)
        return batch

    def process(self, batch: list[dict[str, Any]]) -> InvokeResult:
        event = {"Records": [sqs_record(m, self.mapping.queue_arn, self._region) for m in batch]}
        result = self._invoke(self.mapping.function_arn, event)
        by_id = {m["MessageId"]: m for m in batch}
        leave = failed_ids(result, set(by_id), self.mapping.report_failures)
        visibility = max(self._failure_visibility, math.ceil(result.settle_seconds))
        for message_id, message in by_id.items():
            if message_id in leave:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url(),
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=visibility,
                )
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url(), ReceiptHandle=message["ReceiptHandle"])
        log.info(
            "%s: %d record(s) from %s -> %s",
            self.mapping.function_arn.rsplit(":", 1)[-1],
            len(batch),
            self.mapping.queue_arn.rsplit(":", 1)[-1],
            f"error {result.error.get('errorType')}" if result.error else "ok",
        )
        if leave:
            log.warning(
                "%d of %d messages from %s left for retry", len(leave), len(batch), self.mapping.queue_arn
            )
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.collect_batch()
                if batch:
                    self.process(batch)
            except Exception:
                log.exception("event source mapping %s: polling failed", self.mapping.uuid)
                self._stop.wait(1.0)


class EsmSupervisor:
    """Keeps a poller per enabled SQS mapping, following create/update/delete of mappings."""

    def __init__(
        self,
        *,
        lambda_client: Any,
        sqs_client: Any,
        invoke: Invoke,
        trust: Trust,
        region: str,
        failure_visibility_seconds: int = 1,
        refresh_seconds: float = 0.5,
    ) -> None:
        self._lambda = lambda_client
        self._sqs = sqs_client
        self._invoke = invoke
        self._trust = trust
        self._refused: set[str] = set()
        self._region = region
        self._failure_visibility = failure_visibility_seconds
        self._refresh = refresh_seconds
        self._pollers: dict[str, MappingPoller] = {}
        self._retired: list[MappingPoller] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="esm-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mappings(self) -> list[Mapping]:
        found: list[Mapping] = []
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for item in page.get("EventSourceMappings", []):
                if ":sqs:" in str(item.get("EventSourceArn", "")) and item.get("State") in {
                    "Enabled",
                    "Enabling",
                    "Updating",
                    "Creating",
                }:
                    found.append(Mapping.from_api(item))
        return found

    def trusted(self, mapping: Mapping) -> bool:
        try:
            self._trust(mapping.function_arn)
        except Exception as problem:  # FunctionRefused, or the function is gone
            if mapping.uuid not in self._refused:
                level = logging.ERROR if isinstance(problem, FunctionRefused) else logging.WARNING
                log.log(level, "event source mapping %s is not polled: %s", mapping.uuid, problem)
                self._refused.add(mapping.uuid)
            return False
        self._refused.discard(mapping.uuid)
        return True

    def reconcile(self) -> None:
        wanted = {mapping.uuid: mapping for mapping in self.mappings() if self.trusted(mapping)}
        for uuid, poller in list(self._pollers.items()):
            if wanted.get(uuid) != poller.mapping:
                poller.stop()
                self._retired.append(poller)
                del self._pollers[uuid]
        self._retired = [poller for poller in self._retired if poller.alive()]
        for uuid, mapping in wanted.items():
            if uuid not in self._pollers:
                poller = MappingPoller(
                    mapping,
                    sqs_client=self._sqs,
                    invoke=self._invoke,
                    region=self._region,
                    failure_visibility_seconds=self._failure_visibility,
                )
                self._pollers[uuid] = poller
                poller.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:
                log.exception("cannot list the event source mappings")
            self._stop.wait(self._refresh)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        pollers = [*self._pollers.values(), *self._retired]
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(5)
        self._pollers.clear()
        self._retired.clear()
