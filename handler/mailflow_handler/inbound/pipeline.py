"""The inbound pipeline: plan from the SES event, then parse, build and deliver exactly once per target.

`process(raw, ses_record, deps)` runs it on bytes already in memory (benchmarks, tests);
`handle_record(ses_record, deps)` reads the raw MIME that the receipt rule's S3 action stored.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clients import Deps
from ..errors import PermanentError, error_code, is_aws_error, is_transient
from ..idempotency import store_for
from ..observability import Metrics, current_request_id, logger, redact
from . import message as msg
from .attachments import store_attachments
from .parse import Readable, parse_stream
from .route import Route, route
from .verdicts import Decision, decide

_QUARANTINE = "@quarantine"  # in the record's done list; not a valid app name
_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class InboundResult:
    ses_message_id: str
    delivered: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    dead_lettered: bool = False
    reason: str | None = None
    claim_check: bool = False
    attachments: int = 0
    size_bytes: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.dead_lettered:
            return "dead_lettered"
        if self.delivered or self.quarantined:
            return "quarantined" if not self.delivered else "delivered"
        return "duplicate"


def _ses_parts(ses_record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    ses = ses_record.get("ses") if isinstance(ses_record, dict) else None
    mail = ses.get("mail") if isinstance(ses, dict) else None
    receipt = ses.get("receipt") if isinstance(ses, dict) else None
    if not isinstance(mail, dict) or not isinstance(receipt, dict):
        raise PermanentError("SES record lacks ses.mail or ses.receipt", reason="invalid_event")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not ses_id or not set(ses_id) <= _SAFE_ID or len(ses_id) > 200:
        raise PermanentError(f"invalid SES messageId {ses_id!r}", reason="invalid_event")
    return mail, receipt, ses_id


def _recipients(receipt: dict[str, Any]) -> list[str]:
    value = receipt.get("recipients")
    return [r for r in value if isinstance(r, str)] if isinstance(value, list) else []


def _open_raw(deps: Deps, key: str) -> Readable:
    try:
        body: Readable = deps.s3.get_object(Bucket=deps.config.bucket, Key=key)["Body"]
        return body
    except Exception as exc:
        if is_aws_error(exc) and error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            raise PermanentError(
                f"raw message s3://{deps.config.bucket}/{key} not found", reason="raw_missing"
            ) from exc
        raise


def _quarantine(
    *,
    deps: Deps,
    ses_id: str,
    raw_key: str,
    decision: Decision,
    mail: dict[str, Any],
    receipt: dict[str, Any],
) -> None:
    cfg = deps.config
    base = f"{cfg.prefix_quarantine}{ses_id}"
    try:
        deps.s3.copy_object(
            Bucket=cfg.bucket, Key=f"{base}.eml", CopySource={"Bucket": cfg.bucket, "Key": raw_key}
        )
    except Exception as exc:
        if is_transient(exc):
            raise
        if is_aws_error(exc) and error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            # Nothing to quarantine: dead-letter the email with the reason instead of recording a
            # quarantine without its message.
            raise PermanentError(
                f"raw message s3://{cfg.bucket}/{raw_key} not found", reason="raw_missing"
            ) from exc
        # Any other permanent failure (AccessDenied, ...): a quarantine record without its message would
        # leave the email's content nowhere visible, so the email is dead-lettered instead.
        raise PermanentError(
            f"could not copy s3://{cfg.bucket}/{raw_key} to s3://{cfg.bucket}/{base}.eml: "
            f"{error_code(exc)}: {exc}",
            reason="quarantine_failed",
        ) from exc
    record = {
        "version": "1.0",
        "type": "inbound.quarantine",
        "timestamp": msg.now_iso(),
        "sesMessageId": ses_id,
        "reasons": {r.app: reason for r, reason in decision.quarantine},
        "targets": [
            {"app": r.app, "recipients": r.recipients, "reason": reason} for r, reason in decision.quarantine
        ],
        "mailFrom": str(mail.get("source") or ""),
        "security": decision.security.as_json(),
        "receiptTimestamp": receipt.get("timestamp"),
        "s3Bucket": cfg.bucket,
        "s3ObjectKey": raw_key,
        "quarantineObjectKey": f"{base}.eml",
    }
    deps.s3.put_object(
        Bucket=cfg.bucket,
        Key=f"{base}.json",
        Body=json.dumps(record).encode("utf-8"),
        ContentType="application/json",
    )


def dead_letter(
    *, deps: Deps, ses_record: Any, ses_id: str, reason: str, error: str, targets: list[str]
) -> None:
    cfg = deps.config
    body: dict[str, Any] = {
        "version": "1.0",
        "type": "inbound.failure",
        "timestamp": msg.now_iso(),
        "reason": reason,
        "sesMessageId": ses_id,
        "s3Bucket": cfg.bucket,
        "s3ObjectKey": f"{cfg.prefix_raw}{ses_id}" if ses_id else None,
        "error": error[:4000],
        "targets": targets,
    }
    event_json = json.dumps(ses_record, default=str)
    if len(event_json) < 200_000:
        # `event` is what `mailflow dlq redrive inbound` replays; `sesRecord` is the bare record.
        body["event"] = {"Records": [ses_record]}
        body["sesRecord"] = ses_record
    deps.sqs.send_message(QueueUrl=deps.queue_url(cfg.inbound_dlq), MessageBody=json.dumps(body, default=str))


class _Builder:
    """Parses once and builds the per-target messages, claim-checking bulky content at most once.

    The `email` section is the same for every target: with more than one target it is serialised once
    (and once more, claimed, if the claim check is needed) and spliced into each target's envelope; a
    single target's message is serialised whole (splicing would only add work).
    """

    def __init__(
        self, deps: Deps, ses_id: str, raw_key: str, load: Callable[[], Readable], targets: int
    ) -> None:
        self._deps = deps
        self._shared = targets > 1
        self._ses_id = ses_id
        self._raw_key = raw_key
        self._load = load
        self.email: dict[str, Any] | None = None
        self.claimed: dict[str, Any] | None = None
        self._serialised: tuple[dict[str, Any], str, int] | None = None
        self.attachments = 0
        self.size_bytes = 0

    def email_section(self) -> dict[str, Any]:
        if self.email is None:
            cfg = self._deps.config
            parsed = parse_stream(self._load(), cfg.max_header_bytes, cfg.max_header_field_bytes)
            self.size_bytes = parsed.size_bytes
            described = store_attachments(
                parsed.attachments, self._deps.s3, cfg.bucket, cfg.prefix_attachments, self._ses_id
            )
            self.attachments = len(described)
            parsed.attachments.clear()
            self.email = msg.email_section(parsed, described)
        return self.email

    def _email_json(self, email: dict[str, Any]) -> tuple[str, int]:
        """`email` serialised, and its UTF-8 size: computed once per section (full, then claimed)."""
        if self._serialised is None or self._serialised[0] is not email:
            text = msg.serialise(email)
            self._serialised = (email, text, _size(text))
        return self._serialised[1], self._serialised[2]

    def _body(
        self, r: Route, email: dict[str, Any], security: Any, mail: dict[str, Any], receipt: dict[str, Any]
    ) -> tuple[str, int]:
        cfg = self._deps.config
        built = msg.build(
            route=r,
            email=email,
            security=security,
            mail=mail,
            receipt=receipt,
            bucket=cfg.bucket,
            raw_key=self._raw_key,
        )
        if not self._shared:
            body = msg.serialise(built)
            return body, _size(body)
        email_json, email_size = self._email_json(email)
        prefix, suffix = msg.serialise_around(built)
        return prefix + email_json + suffix, _size(prefix) + email_size + _size(suffix)

    def body_for(
        self, r: Route, security: Any, mail: dict[str, Any], receipt: dict[str, Any]
    ) -> tuple[str, int]:
        """The target's SQS message body and its size in UTF-8 bytes (measured once, reused by the log)."""
        cfg = self._deps.config
        body, size = self._body(r, self.claimed or self.email_section(), security, mail, receipt)
        if size <= cfg.sqs_max_message_bytes:
            return body, size
        if self.claimed is None:
            full = self.email_section()
            document = msg.claim_document(full)
            key = f"{cfg.prefix_claims}{self._ses_id}.json"
            self._deps.s3.put_object(
                Bucket=cfg.bucket, Key=key, Body=document, ContentType="application/json"
            )
            self.claimed = msg.apply_claim(full, cfg.bucket, key, document)
            body, size = self._body(r, self.claimed, security, mail, receipt)
            if size <= cfg.sqs_max_message_bytes:
                return body, size
        raise PermanentError(f"message is {size} bytes after the claim check", reason="message_too_large")


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def run(
    ses_record: dict[str, Any],
    deps: Deps,
    load: Callable[[], Readable] | None = None,
    metrics: Metrics | None = None,
) -> InboundResult:
    """Process one SES record. Transient AWS errors propagate; everything else ends in a queue,
    quarantine or the inbound DLQ."""
    started = time.perf_counter()
    metrics = metrics or Metrics()
    store = store_for(deps)
    ses_id = ""
    result = InboundResult(ses_message_id="")
    try:
        mail, receipt, ses_id = _ses_parts(ses_record)
        result.ses_message_id = ses_id
        _deliver(
            ses_record=ses_record,
            mail=mail,
            receipt=receipt,
            ses_id=ses_id,
            deps=deps,
            load=load,
            store=store,
            result=result,
        )
    except Exception as exc:
        if is_transient(exc):
            raise
        reason = (
            exc.reason
            if isinstance(exc, PermanentError)
            else ("aws_error" if is_aws_error(exc) else "internal_error")
        )
        # Scoped to the Lambda request: Lambda's own retries of the event keep the request id (one record),
        # while a redriven event is a new invocation that may dead-letter again.
        request_id = current_request_id()
        key = f"inbound#{ses_id or 'invalid'}#dlq" + (f"#{request_id}" if request_id else "")
        claim = store.acquire(key)
        if claim.acquired:
            try:
                dead_letter(
                    deps=deps,
                    ses_record=ses_record,
                    ses_id=ses_id,
                    reason=reason,
                    error=f"{error_code(exc)}: {exc}",
                    targets=result.unsent,
                )
            except Exception:
                store.release(key)
                raise
            store.complete(key, {"reason": reason})
        result.dead_lettered = True
        result.reason = reason
    _observe(result, ses_record, metrics, time.perf_counter() - started)
    return result


def _deliver(
    *,
    ses_record: dict[str, Any],
    mail: dict[str, Any],
    receipt: dict[str, Any],
    ses_id: str,
    deps: Deps,
    load: Callable[[], Readable] | None,
    store: Any,
    result: InboundResult,
) -> None:
    cfg = deps.config
    raw_key = f"{cfg.prefix_raw}{ses_id}"
    routes = route(_recipients(receipt), cfg)
    decision = decide(routes, receipt, str(mail.get("source") or ""), cfg)
    # One idempotency record per email covers every side effect (quarantine and each target app): two
    # writes per email. A PARTIAL record from an earlier attempt lists what is already done.
    key = f"inbound#{ses_id}"
    claim = store.acquire(key)
    done: set[str] = set()
    if claim.data and isinstance(claim.data.get("done"), list):
        done = {t for t in claim.data["done"] if isinstance(t, str)}
    if not claim.acquired:
        result.duplicates = (["quarantine"] if decision.quarantine else []) + [
            r.app for r in decision.deliver
        ]
        return
    newly: list[str] = []
    sqs_ids: dict[str, Any] = dict(claim.data.get("sqsMessageIds") or {}) if claim.data else {}
    # Known before any side effect, so a failure during the quarantine still names every target.
    pending: list[Route] = [r for r in decision.deliver if r.app not in done]
    quarantine_pending = bool(decision.quarantine) and _QUARANTINE not in done
    finished = False
    try:
        if decision.quarantine and not quarantine_pending:
            result.duplicates.append("quarantine")
        elif decision.quarantine:
            _quarantine(
                deps=deps, ses_id=ses_id, raw_key=raw_key, decision=decision, mail=mail, receipt=receipt
            )
            quarantine_pending = False
            newly.append(_QUARANTINE)
            result.quarantined = [r.app for r, _ in decision.quarantine]
        result.duplicates.extend(r.app for r in decision.deliver if r.app in done)
        if pending:
            builder = _Builder(
                deps, ses_id, raw_key, load or (lambda: _open_raw(deps, raw_key)), targets=len(pending)
            )
            while pending:
                r = pending[0]
                body, size = builder.body_for(r, decision.security, mail, receipt)
                sent = deps.sqs.send_message(QueueUrl=deps.queue_url(r.queue), MessageBody=body)
                newly.append(r.app)
                sqs_ids[r.app] = sent.get("MessageId") if isinstance(sent, dict) else None
                pending.pop(0)
                result.delivered.append(r.app)
                result.sent.append({"app": r.app, "bytes": size})
            result.claim_check = builder.claimed is not None
            result.attachments = builder.attachments
            result.size_bytes = builder.size_bytes
        finished = True
    finally:
        result.unsent = [r.app for r, _ in decision.quarantine] if quarantine_pending else []
        result.unsent += [r.app for r in pending if r.app not in result.unsent]
        record = {"done": sorted(done.union(newly)), "sqsMessageIds": sqs_ids}
        if finished:
            store.complete(key, record)
        else:
            store.release(key, record if record["done"] else None)


def _observe(result: InboundResult, ses_record: dict[str, Any], metrics: Metrics, elapsed: float) -> None:
    mail = (ses_record.get("ses") or {}).get("mail") if isinstance(ses_record, dict) else None
    receipt = (ses_record.get("ses") or {}).get("receipt") if isinstance(ses_record, dict) else None
    source = mail.get("source") if isinstance(mail, dict) else None
    recipients = _recipients(receipt) if isinstance(receipt, dict) else []
    metrics.add("InboundEmails")
    metrics.add("InboundDelivered", len(result.delivered))
    if result.quarantined:
        metrics.add("InboundQuarantined")
    if result.dead_lettered:
        metrics.add("InboundDeadLettered")
    if result.duplicates and not result.delivered:
        metrics.add("InboundDuplicates")
    if result.claim_check:
        metrics.add("InboundClaimChecks")
    metrics.add("InboundAttachments", result.attachments)
    metrics.add("InboundBytes", result.size_bytes, "Bytes")
    metrics.add("InboundProcessingTime", round(elapsed * 1000, 3), "Milliseconds")
    logger.info(
        "inbound email",
        sesMessageId=result.ses_message_id,
        outcome=result.outcome,
        apps=result.delivered,
        quarantined=result.quarantined,
        duplicates=result.duplicates,
        reason=result.reason,
        mailFrom=redact(source if isinstance(source, str) else None),
        recipients=[redact(r) for r in recipients[:50]],
        sizeBytes=result.size_bytes,
        messageBytes=[s["bytes"] for s in result.sent],
        attachments=result.attachments,
        claimCheck=result.claim_check,
        durationMs=round(elapsed * 1000, 3),
    )


def process(
    raw: bytes, ses_record: dict[str, Any], deps: Deps, metrics: Metrics | None = None
) -> InboundResult:
    """Run the whole inbound pipeline on `raw` (the bytes SES stored) with injected clients."""
    return run(ses_record, deps, load=lambda: io.BytesIO(raw), metrics=metrics)


def handle_record(ses_record: dict[str, Any], deps: Deps, metrics: Metrics | None = None) -> InboundResult:
    """Lambda path: the raw MIME is read from `s3://<bucket>/<prefixes.raw><mail.messageId>` when needed."""
    return run(ses_record, deps, metrics=metrics)
