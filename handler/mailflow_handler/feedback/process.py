"""Records of the SES events queue -> one `outbound.event` on the sending app's queue per SES event.

Per record: parse (a malformed body is reported as a batch item failure, so SQS's redrive moves it to
the events DLQ after the queue's maxReceiveCount) -> attribute it to an app and request by Mailflow's
message tags (an event without them, or for an app no longer configured, is logged and dropped: never
queued, never dead-lettered) -> unless already done (one consistent read of
`outbound-event#<sesMessageId>#<event>#<feedbackId or timestamp>`), put the message on the app's queue
-> record the key as done (one write). The message id is derived from the key, so a copy sent twice
(a crash between the send and the write) carries the same `id`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..addresses import log_hashes
from ..clients import Deps
from ..config import AppConfig, Config
from ..errors import error_code
from ..idempotency import store_for
from ..observability import Metrics, logger
from ..sestags import APP_TAG, CORRELATION_TAG, decode_value
from .event import MalformedEvent, SesEvent, parse
from .message import event_addresses, idempotency_key, serialised

DELIVERED = "delivered to app queue"
DUPLICATE = "duplicate"
UNATTRIBUTED = "unattributed"
APP_NOT_CONFIGURED = "app not configured"
MALFORMED = "malformed"
IGNORED = "ignored"
FAILED = "failed"
CONFIGURATION_SET_TAG = "ses:configuration-set"  # SES adds it to every event of a configuration set


class Unattributed(Exception):
    """The event cannot be tied to an app and request of this stack."""


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class FeedbackResult:
    record_id: str
    outcome: str = MALFORMED
    retry: bool = False
    event: str | None = None
    ses_message_id: str | None = None
    app: str | None = None
    correlation_id: str | None = None
    sqs_message_id: str | None = None
    reason: str | None = None
    error: str | None = None
    recipients_total: int = 0
    addresses: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _tag(event: SesEvent, name: str) -> str | None:
    values = event.tags.get(name)
    if not isinstance(values, list) or len(values) != 1:
        return None
    return decode_value(values[0])


def attribute(event: SesEvent, config: Config) -> tuple[str, str]:
    """(app, correlationId) from Mailflow's tags; Unattributed when the event is not one of ours."""
    sets = event.tags.get(CONFIGURATION_SET_TAG)
    if config.configuration_set and isinstance(sets, list) and sets and sets != [config.configuration_set]:
        raise Unattributed("sent through another configuration set")
    account = event.mail.get("sendingAccountId")
    if config.account_id and isinstance(account, str) and account and account != config.account_id:
        raise Unattributed("sent by another AWS account")
    app = _tag(event, APP_TAG)
    correlation_id = _tag(event, CORRELATION_TAG)
    if app is None or correlation_id is None:
        missing = APP_TAG if app is None else CORRELATION_TAG
        raise Unattributed(f"no usable {missing} tag (absent, several values, or not one Mailflow writes)")
    return app.lower(), correlation_id


def _details(event: SesEvent) -> dict[str, Any]:
    """The log line's `bounceType`/`bounceSubType` or `complaintFeedbackType`, when the event has them."""
    names = {
        "bounce": (("bounceType", "bounceType"), ("bounceSubType", "bounceSubType")),
        "complaint": (("complaintFeedbackType", "complaintFeedbackType"),),
    }.get(event.kind, ())
    found: dict[str, Any] = {}
    for field_name, key in names:
        value = event.detail.get(key)
        if isinstance(value, str) and value:
            found[field_name] = value[:100]
    return found


def _deliver(event: SesEvent, app: AppConfig, deps: Deps, result: FeedbackResult) -> None:
    store = store_for(deps)
    key = idempotency_key(event)
    done = store.completed(key)
    if done is not None:
        result.outcome = DUPLICATE
        first = done.get("sqsMessageId")
        result.sqs_message_id = first if isinstance(first, str) else None
        return
    cid = result.correlation_id or ""
    message, body = serialised(event, app.name, cid, deps.config.sqs_max_message_bytes)
    sent = deps.sqs.send_message(QueueUrl=deps.queue_url(app.queue), MessageBody=body)
    result.sqs_message_id = sent.get("MessageId") if isinstance(sent, dict) else None
    result.outcome = DELIVERED
    result.details["truncated"] = message["truncated"]
    try:
        store.record_completed(key, {"sqsMessageId": result.sqs_message_id, "id": message["id"]})
    except Exception as exc:
        # The app has its message; without the record a redelivery of this event sends it again, with the
        # same id. Not worth failing the record (a retry would do exactly that).
        logger.warning("outbound event not recorded as done", key=key, error=f"{error_code(exc)}: {exc}")


def _handle(record: dict[str, Any], deps: Deps, result: FeedbackResult) -> None:
    event = parse(record.get("body"))
    result.event = event.kind or event.ses_type[:40]
    result.ses_message_id = event.ses_message_id
    addresses = event_addresses(event)
    result.recipients_total = sum(isinstance(a, str) for a in addresses)
    destination = event.mail.get("destination")
    destination = destination if isinstance(destination, list) else []
    result.addresses = [event.mail.get("source"), *destination, *addresses]
    result.details.update(_details(event))
    cfg = deps.config
    if not event.kind:
        result.outcome, result.reason = IGNORED, f"{event.ses_type} events are not forwarded to apps"
        return
    if event.kind == "send" and not cfg.send_events:
        result.outcome, result.reason = IGNORED, "send events are off (outbound.feedback.sendEvents)"
        return
    try:
        result.app, result.correlation_id = attribute(event, cfg)
    except Unattributed as exc:
        result.outcome, result.reason = UNATTRIBUTED, str(exc)
        return
    app = cfg.apps.get(result.app)
    if app is None:
        result.outcome, result.reason = APP_NOT_CONFIGURED, "the app is not in this stack's configuration"
        return
    _deliver(event, app, deps, result)


def process_record(record: dict[str, Any], deps: Deps, metrics: Metrics | None = None) -> FeedbackResult:
    """Handle one events-queue record; `retry` says whether SQS should receive it again."""
    started = time.perf_counter()
    result = FeedbackResult(record_id=str(record.get("messageId", "")))
    try:
        _handle(record, deps, result)
    except MalformedEvent as exc:
        result.outcome, result.reason, result.retry = MALFORMED, str(exc), True
    except Exception as exc:
        result.outcome, result.retry = FAILED, True
        result.error = f"{error_code(exc)}: {exc}"[:2000]
    _observe(result, deps, metrics or Metrics(), time.perf_counter() - started)
    return result


def _observe(result: FeedbackResult, deps: Deps, metrics: Metrics, elapsed: float) -> None:
    if result.outcome == DELIVERED:
        metrics.add("FeedbackEvents")
    elif result.outcome in (UNATTRIBUTED, APP_NOT_CONFIGURED):
        metrics.add("FeedbackUnattributed")
    elif result.outcome == MALFORMED:
        metrics.add("FeedbackMalformed")
    noteworthy = result.outcome in (MALFORMED, FAILED, UNATTRIBUTED, APP_NOT_CONFIGURED)
    (logger.warning if noteworthy else logger.info)(
        "outbound event",
        event=result.event,
        sesMessageId=result.ses_message_id,
        app=result.app,
        correlationId=result.correlation_id,
        addressHashes=log_hashes(deps.dynamodb, deps.config.idempotency_table, result.addresses),
        **result.details,
        outcome=result.outcome,
        reason=result.reason,
        error=result.error,
        retry=result.retry,
        sqsMessageId=result.sqs_message_id,
        sourceMessageId=result.record_id,
        recipientsTotal=result.recipients_total,
        durationMs=round(elapsed * 1000, 3),
    )


def process_batch(
    records: list[dict[str, Any]], deps: Deps, metrics: Metrics | None = None
) -> dict[str, Any]:
    """SQS partial batch response: malformed records and failed sends are received again (and moved to
    the events DLQ by SQS after maxReceiveCount); everything else is done with."""
    failures = []
    for record in records:
        if process_record(record, deps, metrics).retry:
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}
