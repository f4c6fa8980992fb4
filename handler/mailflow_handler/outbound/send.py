"""Outbound SQS records -> SES, exactly once per (source app, correlationId), with a status message."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from ..addresses import log_hashes
from ..clients import Deps
from ..config import AppConfig, AttachmentSource, Config
from ..errors import PermanentError, error_code, is_aws_error, is_transient, outcome_unknown
from ..idempotency import store_for
from ..inbound.message import message_id_for, now_iso
from ..observability import Metrics, logger, redact
from ..sestags import email_tags
from .compose import compose
from .validate import OutboundRequest, ValidationError, validate

STATUS_TYPE = "outbound.status"
SENDING = "sending"  # the record's mark: SES has been asked to send, its answer is not recorded yet
UNKNOWN = "unknown"  # the record's outcome after a takeover of a marked record
# What an app reads in `error.message`: fixed texts, never text from the request or from AWS (details
# go to the log line and, for requests no app is told about, to the outbound DLQ).
REASON_TEXTS = {
    "invalid_message": "the request is not a valid outbound message (see docs/messages.md)",
    "invalid_address": "an address is not a valid ASCII email address",
    "header_injection": "a header field holds control characters, possibly in an encoded word",
    "header_not_allowed": "a custom header name is reserved (X-SES-*, X-Mailflow-*)",
    "too_many_recipients": "more recipients than outbound.maxRecipients",
    "invalid_correlation_id": "the correlationId does not fit in an SES message tag (see docs/messages.md)",
    "sender_not_authorised": "the from address is not one of this app's senders",
    "attachment_not_allowed": "an attachment is outside the allowed attachment sources",
    "attachment_missing": "an attachment object does not exist",
    "attachments_too_large": "the attachments exceed outbound.maxAttachmentBytes",
    "in_progress": "the same request is being processed; it will be retried",
    "transient": "a temporary failure; the request will be retried",
    "internal_error": "an internal error; the request was not sent",
    "outcome_unknown": (
        "an earlier attempt ended after asking SES to send, before recording its answer: the email may "
        "have been sent and is not sent again (an outbound.event follows if SES sent it)"
    ),
}


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class OutboundResult:
    message_id: str
    status: str
    retry: bool
    correlation_id: str | None = None
    source: str | None = None
    ses_message_id: str | None = None
    reason: str | None = None
    error: str | None = None
    duplicate: bool = False
    # The held outbound record, completed once the "sent" status message is out (one record covers both).
    lock: str | None = None
    # The request may be answered on the claimed app's queue: `source` names a configured app and, when
    # that app lists senderIds, the writer is one of them. Anything else is reported to the DLQ only.
    trusted: bool = False
    # The SQS message id of the status message put on the app's queue.
    status_sqs_message_id: str | None = None


def _principal_allowed(sender_id: Any, allowed: tuple[str, ...]) -> bool:
    """`SenderId` is the writer's IAM unique id: a user id, or `<role id>:<session name>`."""
    if not isinstance(sender_id, str) or not sender_id:
        return False
    return any(sender_id == i or sender_id.startswith(f"{i}:") for i in allowed)


def _sender_id(record: dict[str, Any]) -> Any:
    attributes = record.get("attributes")
    return attributes.get("SenderId") if isinstance(attributes, dict) else None


def _authenticate(document: Any, deps: Deps, record: dict[str, Any], result: OutboundResult) -> AppConfig:
    """The claimed source app, once the writer is known to be allowed to speak for it; before anything
    else of the request is looked at, so nobody else can have a status put on that app's queue."""
    claimed = document.get("source") if isinstance(document, dict) else None
    app = deps.config.apps.get(claimed.lower()) if isinstance(claimed, str) else None
    if app is None:
        raise PermanentError(f"unknown source app {claimed!r}", reason="unknown_source")
    if app.sender_ids and not _principal_allowed(_sender_id(record), app.sender_ids):
        raise PermanentError(
            f"principal {_sender_id(record)!r} may not send as app {app.name!r}",
            reason="unauthorised_principal",
        )
    result.source = app.name
    result.trusted = True
    cid = document.get("correlationId", document.get("correlation_id"))
    result.correlation_id = cid if isinstance(cid, str) else None
    return app


def _authorise(request: OutboundRequest, app: AppConfig) -> None:
    if request.sender.address.lower() not in app.senders:
        raise PermanentError(
            f"app {request.source!r} may not send from {redact(request.sender.address)}",
            reason="sender_not_authorised",
        )


def _source_allows(src: AttachmentSource, bucket: str, key: str, app: str, cfg: Config) -> bool:
    """The stack's own outbound prefix is split per app (`<prefixes.outbound><app>/`); other configured
    sources are plain prefixes (validated at config load: non-empty, ending in `/`)."""
    if bucket != src.bucket:
        return False
    if bucket == cfg.bucket and src.prefix == cfg.prefix_outbound:
        return key.startswith(f"{src.prefix}{app}/")
    return key.startswith(src.prefix)


def _fetch_attachments(request: OutboundRequest, deps: Deps) -> list[bytes]:
    cfg = deps.config
    total = 0
    blobs: list[bytes] = []
    source = request.source.lower()
    for ref in request.attachments:
        if not any(_source_allows(s, ref.bucket, ref.key, source, cfg) for s in cfg.attachment_sources):
            raise PermanentError(
                f"attachment s3://{ref.bucket}/{ref.key} is outside the allowed attachment sources",
                reason="attachment_not_allowed",
            )
        try:
            obj = deps.s3.get_object(Bucket=ref.bucket, Key=ref.key)
        except Exception as exc:
            if is_aws_error(exc) and error_code(exc) in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
                raise PermanentError(
                    f"attachment s3://{ref.bucket}/{ref.key} not found", reason="attachment_missing"
                ) from exc
            raise
        length = obj.get("ContentLength")
        if isinstance(length, int) and total + length > cfg.max_attachment_bytes:
            raise PermanentError(
                "attachments exceed outbound.maxAttachmentBytes", reason="attachments_too_large"
            )
        data = bytes(obj["Body"].read(cfg.max_attachment_bytes - total + 1))
        total += len(data)
        if total > cfg.max_attachment_bytes:
            raise PermanentError(
                "attachments exceed outbound.maxAttachmentBytes", reason="attachments_too_large"
            )
        blobs.append(data)
    return blobs


def _send(request: OutboundRequest, app: AppConfig, raw: bytes, deps: Deps) -> str:
    """One SESv2 SendEmail. `FromEmailAddress` is the authorised address as `senders` holds it (lower
    case: the role's `ses:FromAddress` condition compares case-sensitively); the From header keeps the
    app's spelling. The configuration set and the tags make SES's events about this email come back to
    the app (contract E)."""
    options: dict[str, Any] = {"EmailTags": email_tags(app.name, request.correlation_id)}
    if deps.config.configuration_set:
        options["ConfigurationSetName"] = deps.config.configuration_set
    response = deps.ses.send_email(
        FromEmailAddress=request.sender.address.lower(),
        Destination={
            "ToAddresses": [m.address for m in request.to],
            "CcAddresses": [m.address for m in request.cc],
            "BccAddresses": [m.address for m in request.bcc],
        },
        Content={"Raw": {"Data": raw}},
        **options,
    )
    return str(response["MessageId"])


def status_message(result: OutboundResult, attempt: int) -> dict[str, Any]:
    return {
        "version": "1.0",
        "type": STATUS_TYPE,
        "id": message_id_for(f"{result.source}/{result.correlation_id}", f"{result.status}/{attempt}"),
        "timestamp": now_iso(),
        "app": result.source,
        "correlationId": result.correlation_id,
        "status": result.status,
        "sesMessageId": result.ses_message_id,
        "error": None
        if result.status == "sent"
        else {"reason": result.reason, "message": _reason_text(result)},
        "retry": result.retry,
        "attempt": attempt,
    }


def _reason_text(result: OutboundResult) -> str:
    reason = result.reason or "internal_error"
    if reason.startswith("aws:"):
        return f"AWS refused or failed the request ({reason[4:]})"
    return REASON_TEXTS.get(reason, REASON_TEXTS["internal_error"])


def process_record(record: dict[str, Any], deps: Deps, metrics: Metrics | None = None) -> OutboundResult:
    """Handle one SQS record. Raises only for transient failures (the caller reports the item to SQS)."""
    started = time.perf_counter()
    metrics = metrics or Metrics()
    message_id = str(record.get("messageId", ""))
    attempt = _attempt(record)
    result = OutboundResult(message_id=message_id, status="failed", retry=False)
    body = record.get("body")
    request: OutboundRequest | None = None
    store = store_for(deps)
    try:
        try:
            document = json.loads(body) if isinstance(body, str) else None
        except ValueError as exc:
            raise ValidationError(f"body is not JSON: {exc}", reason="invalid_json") from exc
        app = _authenticate(document, deps, record, result)
        request = validate(document, deps.config.max_recipients)
        result.correlation_id = request.correlation_id
        _authorise(request, app)
        key = f"outbound#{result.source}#{request.correlation_id}"
        claim = store.acquire(key)
        prior = claim.data or {}
        if prior.get("sesMessageId") or (not claim.acquired and prior.get("outcome") != UNKNOWN):
            # COMPLETED: sent and the app told. PARTIAL: sent, the status message still to go.
            result.duplicate = True
            result.status = "sent"
            result.ses_message_id = prior.get("sesMessageId")
            if claim.acquired:
                result.lock = key
        elif prior.get("outcome") == UNKNOWN or prior.get(SENDING):
            _outcome_unknown(result, key, told=not claim.acquired)
        else:
            try:
                raw = compose(request, _fetch_attachments(request, deps))
            except Exception:
                store.release(key)
                raise
            # From here on a takeover of this lock cannot know whether SES sent the email (it has no
            # idempotency token): the mark makes it say so instead of sending a second copy.
            store.mark(key, {SENDING: True})
            try:
                result.ses_message_id = _send(request, app, raw, deps)
            except Exception as exc:
                # A read timeout after the request went out: SES may have sent it. Keep the INPROGRESS
                # lock and its mark: a redelivery before the lock expires is `in_progress`, a later one
                # takes the lock over and reports `outcome_unknown`.
                if not outcome_unknown(exc):
                    store.release(key)
                raise
            result.status = "sent"
            result.lock = key
    except Exception as exc:
        result.status = "failed"
        result.retry = is_transient(exc)
        result.error = f"{error_code(exc)}: {exc}"[:2000]
        if isinstance(exc, PermanentError):
            result.reason = exc.reason
        elif is_aws_error(exc):
            result.reason = f"aws:{error_code(exc)}"
        else:
            result.reason = "transient" if result.retry else "internal_error"
    _notify(result, record, deps, attempt, store)
    _observe(result, request, deps, metrics, time.perf_counter() - started)
    return result


def _outcome_unknown(result: OutboundResult, key: str, *, told: bool) -> None:
    """An earlier attempt died between asking SES to send and recording the answer: the email may have
    gone out. It is not sent again; the app is told once (`told`: an earlier attempt already did)."""
    result.status = "failed"
    result.retry = False
    result.reason = "outcome_unknown"
    result.error = "an earlier attempt ended after asking SES to send, before recording its answer"
    result.duplicate = told
    if not told:
        result.lock = key


def _attempt(record: dict[str, Any]) -> int:
    attributes = record.get("attributes")
    try:
        return int(attributes.get("ApproximateReceiveCount", 1)) if isinstance(attributes, dict) else 1
    except (TypeError, ValueError):
        return 1


_ORIGINAL_MAX = 200_000  # characters of the JSON-escaped original kept in an outbound.failure record


def _original(body: Any) -> dict[str, Any]:
    """The original body for the failure record, cut so its JSON escaping (up to 12 bytes per character)
    stays within _ORIGINAL_MAX and the record always fits in an SQS message; a cut original comes with
    its full size and sha256."""
    if not isinstance(body, str) or len(json.dumps(body)) <= _ORIGINAL_MAX:
        return {"original": body}
    data = body.encode("utf-8", "surrogatepass")
    cut = min(len(body), _ORIGINAL_MAX)
    while (escaped := len(json.dumps(body[:cut]))) > _ORIGINAL_MAX:
        cut = max(0, cut * _ORIGINAL_MAX // escaped - 1)
    return {
        "original": body[:cut],
        "originalTruncated": True,
        "originalSize": len(data),
        "originalSha256": hashlib.sha256(data).hexdigest(),
    }


def _notify(
    result: OutboundResult, record: dict[str, Any], deps: Deps, attempt: int, store: Any = None
) -> None:
    """Tell the source app (once per outcome); a request that is not trusted to come from a configured
    app (or has no correlationId) goes to the outbound DLQ with its original, and to no app."""
    cfg = deps.config
    app = cfg.apps.get(result.source or "") if result.trusted else None
    store = store or store_for(deps)  # the same store: it knows the locks it holds
    if app is None or result.correlation_id is None:
        if result.retry:
            return
        key = f"outbound-dlq#{record.get('messageId', '')}"
        if not store.acquire(key).acquired:
            return
        try:
            deps.sqs.send_message(
                QueueUrl=deps.queue_url(cfg.outbound_dlq),
                MessageBody=json.dumps(
                    {
                        "version": "1.0",
                        "type": "outbound.failure",
                        "timestamp": now_iso(),
                        "reason": result.reason or "unknown_source",
                        "error": result.error,
                        "sqsMessageId": record.get("messageId"),
                        "senderId": _sender_id(record),
                        **_original(record.get("body")),
                    }
                ),
            )
        except Exception:
            store.release(key)
            raise
        store.complete(key)
        return
    if result.lock is not None:
        known = (
            {"sesMessageId": result.ses_message_id}
            if result.status == "sent"
            else {"outcome": UNKNOWN}  # the only other outcome that holds the record's lock here
        )
        try:
            _send_status(result, app, deps, attempt)
        except Exception:
            # The outcome is known: keep it on record (PARTIAL) so the redelivery only sends the status.
            store.release(result.lock, known)
            raise
        store.complete(result.lock, {**known, "status": result.status})
        return
    if result.duplicate:
        return
    # Per SQS message: a new request reusing the correlationId that fails again still gets its status;
    # SQS redeliveries of one message keep its messageId (and `#<attempt>` separates retryable ones).
    key = f"outbound-status#{result.source}#{result.correlation_id}#{result.status}#{result.message_id}"
    if result.retry:
        key += f"#{attempt}"
    if not store.acquire(key).acquired:
        return
    try:
        _send_status(result, app, deps, attempt)
    except Exception:
        store.release(key)
        raise
    store.complete(key)


def _send_status(result: OutboundResult, app: AppConfig, deps: Deps, attempt: int) -> None:
    sent = deps.sqs.send_message(
        QueueUrl=deps.queue_url(app.queue), MessageBody=json.dumps(status_message(result, attempt))
    )
    result.status_sqs_message_id = sent.get("MessageId") if isinstance(sent, dict) else None


def _observe(
    result: OutboundResult,
    request: OutboundRequest | None,
    deps: Deps,
    metrics: Metrics,
    elapsed: float,
) -> None:
    if result.duplicate:
        metrics.add("OutboundDuplicates")
    elif result.status == "sent":
        metrics.add("OutboundSent")
    elif result.retry:
        metrics.add("OutboundRetried")
    else:
        metrics.add("OutboundFailed")
    metrics.add("OutboundProcessingTime", round(elapsed * 1000, 3), "Milliseconds")
    logger.info(
        "outbound email",
        sqsMessageId=result.message_id,
        correlationId=result.correlation_id,
        app=result.source,
        outcome="duplicate" if result.duplicate else result.status,
        retry=result.retry,
        reason=result.reason,
        sesMessageId=result.ses_message_id,
        error=result.error,
        statusSqsMessageId=result.status_sqs_message_id,
        sender=redact(request.sender.address) if request else None,
        recipients=[redact(a) for a in request.destinations] if request else [],
        addressHashes=log_hashes(
            deps.dynamodb,
            deps.config.idempotency_table,
            [request.sender.address, *request.destinations] if request else [],
        ),
        attachments=len(request.attachments) if request else 0,
        durationMs=round(elapsed * 1000, 3),
    )


def process_batch(
    records: list[dict[str, Any]], deps: Deps, metrics: Metrics | None = None
) -> dict[str, Any]:
    """SQS partial batch response: only transient failures are reported for redelivery."""
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            result = process_record(record, deps, metrics)
        except Exception as exc:
            logger.error(
                "outbound status delivery failed", sqsMessageId=record.get("messageId"), error=str(exc)
            )
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
            continue
        if result.retry:
            failures.append({"itemIdentifier": result.message_id})
    return {"batchItemFailures": failures}
