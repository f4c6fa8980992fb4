"""Lambda entry point: routes each record by its `eventSource`, and SQS records by their queue."""

from __future__ import annotations

from typing import Any

from .clients import Deps, default_deps
from .errors import UnsupportedEventError
from .observability import Metrics, logger, start_invocation

SES = "aws:ses"
SQS = "aws:sqs"


def _sources(event: Any) -> tuple[list[dict[str, Any]], str]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        shape = sorted(event)[:10] if isinstance(event, dict) else type(event).__name__
        raise UnsupportedEventError(
            f"unsupported event: expected Records from aws:ses or aws:sqs, got {shape}"
        )
    kinds = {r.get("eventSource") if isinstance(r, dict) else None for r in records}
    if len(kinds) != 1 or not kinds <= {SES, SQS}:
        raise UnsupportedEventError(
            f"unsupported eventSource {sorted(map(str, kinds))}: "
            "this function handles aws:ses or aws:sqs records"
        )
    return records, kinds.pop() or ""


def _from_events_queue(record: dict[str, Any], events_queue: str) -> bool:
    """The record's queue, from its `eventSourceARN` (arn:aws:sqs:<region>:<account>:<name>), is the SES
    events queue. Never decided by the body: anything else is an outbound request."""
    arn = record.get("eventSourceARN")
    return bool(events_queue) and isinstance(arn, str) and arn.rpartition(":")[2] == events_queue


def _sqs_batch(records: list[dict[str, Any]], deps: Deps, metrics: Metrics) -> dict[str, Any]:
    events_queue = deps.config.ses_events_queue
    events = [r for r in records if _from_events_queue(r, events_queue)]
    requests = [r for r in records if not _from_events_queue(r, events_queue)]
    failures: list[dict[str, str]] = []
    if events:
        from .feedback.process import process_batch as process_events

        failures += process_events(events, deps, metrics)["batchItemFailures"]
    if requests:
        from .outbound.send import process_batch as process_requests

        failures += process_requests(requests, deps, metrics)["batchItemFailures"]
    if failures:
        logger.warning("SQS batch has retryable items", failures=len(failures))
    return {"batchItemFailures": failures}


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    start_invocation(context)
    records, source = _sources(event)
    deps = default_deps()
    metrics = Metrics(enabled=deps.config.metrics)
    try:
        if source == SES:
            from .inbound.pipeline import handle_record

            for record in records:
                handle_record(record, deps, metrics)
            return {"disposition": "CONTINUE"}
        return _sqs_batch(records, deps, metrics)
    finally:
        metrics.flush()
