"""Lambda entry point: routes each record by its `eventSource`."""

from __future__ import annotations

from typing import Any

from .clients import default_deps
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
        from .outbound.send import process_batch

        response = process_batch(records, deps, metrics)
        if response["batchItemFailures"]:
            logger.warning("outbound batch has retryable items", failures=len(response["batchItemFailures"]))
        return response
    finally:
        metrics.flush()
