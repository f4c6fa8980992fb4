"""The inbound pipeline: plan from the SES event, then parse, build and deliver exactly once per target.

`process(raw, ses_record, deps)` runs it on bytes already in memory (benchmarks, tests);
`handle_record(ses_record, deps)` reads the raw MIME that the receipt rule's S3 action stored.

A replay (`replay`: the targets the event's replay marker lists for the email, spec R) re-opens a
COMPLETED record and delivers only to the listed targets the routing gives and the record does not list
as done; an email the handler quarantined stays in quarantine.
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
from ..idempotency import COMPLETED, Claim, store_for
from ..observability import Metrics, current_request_id, logger
from . import event, logline, rawaccess
from . import message as msg
from .builder import Builder
from .mime import Readable
from .parse import ParsedEmail
from .route import Route, route
from .verdicts import NOT_PARSED, Decision, decide

_QUARANTINE = logline.QUARANTINE
FAILURE_VERSION = "2.0"


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
    # One entry per target, as the log line's `routes` (contract L).
    routes: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: dict[str, str] = field(default_factory=dict)
    replay: frozenset[str] | None = None  # the targets of a replay (spec R); None for SES's own events

    @property
    def outcome(self) -> str:
        if self.dead_lettered:
            return "dead_lettered"
        if self.delivered or self.quarantined:
            return "quarantined" if not self.delivered else "delivered"
        return "duplicate"


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
        rawaccess.copy_without_tags(deps.s3, cfg.bucket, raw_key, f"{base}.eml")
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


def dead_letter(*, deps: Deps, ses_id: str, reason: str, error: str, targets: list[str]) -> None:
    """The inbound.failure record: what failed and where the mail is, never the event itself (nothing in
    a DLQ body is trusted; a redrive replays the `receipt` stored with the email's idempotency record)."""
    cfg = deps.config
    body: dict[str, Any] = {
        "version": FAILURE_VERSION,
        "type": "inbound.failure",
        "timestamp": msg.now_iso(),
        "reason": reason,
        "sesMessageId": ses_id,
        "s3Bucket": cfg.bucket,
        "s3ObjectKey": f"{cfg.prefix_raw}{ses_id}" if ses_id else None,
        "error": error[:4000],
        "targets": targets,
    }
    deps.sqs.send_message(QueueUrl=deps.queue_url(cfg.inbound_dlq), MessageBody=json.dumps(body, default=str))


def run(
    ses_record: dict[str, Any],
    deps: Deps,
    load: Callable[[], Readable] | None = None,
    metrics: Metrics | None = None,
    *,
    replay: frozenset[str] | None = None,
) -> InboundResult:
    """Process one SES record (of a replay, with its `replay` targets). Transient AWS errors propagate;
    everything else ends in a queue, quarantine or the inbound DLQ."""
    started = time.perf_counter()
    metrics = metrics or Metrics()
    store = store_for(deps)
    cfg = deps.config
    ses_id = ""
    result = InboundResult(ses_message_id="", replay=replay)
    try:
        mail, receipt, ses_id = event.parts(ses_record)
        result.ses_message_id = ses_id
        # One idempotency record per email covers every side effect (quarantine and each target app):
        # two writes per email. A PARTIAL record from an earlier attempt lists what is already done. The
        # record keeps the trimmed SES record (`receipt`) as long as the raw mail, for a redrive to replay.
        trimmed = event.trimmed(ses_record, mail, receipt)
        claim = store.acquire(
            f"inbound#{ses_id}",
            receipt=trimmed,
            ttl=max(cfg.idempotency_ttl_seconds, cfg.idempotency_receipt_ttl_seconds),
            reopen=replay is not None,
        )
        ses_record = _trusted_record(ses_record, trimmed, claim, ses_id)
        mail, receipt, _ = event.parts(ses_record)
        _deliver(
            mail=mail,
            receipt=receipt,
            ses_id=ses_id,
            deps=deps,
            load=load,
            store=store,
            claim=claim,
            result=result,
        )
    except Exception as exc:
        if is_transient(exc):
            result.reason = f"transient: {error_code(exc)}"
            logline.write(result, ses_record, deps, "retrying", time.perf_counter() - started)
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
    _observe(result, ses_record, deps, metrics, time.perf_counter() - started)
    return result


def _trusted_record(ses_record: dict[str, Any], trimmed: str, claim: Claim, ses_id: str) -> dict[str, Any]:
    """The record that decides: the one the handler stored when it first took the email (the invoking
    event's record then only names the email), else the event's own."""
    stored = event.stored(claim.receipt, ses_id)
    if stored is None:
        return ses_record
    if claim.receipt != trimmed and stored != json.loads(trimmed):
        logger.warning(
            "the event's SES record differs from the one stored for this email: the stored one decides",
            sesMessageId=ses_id,
        )
    return stored


def _done(claim: Claim) -> set[str]:
    done = claim.data.get("done") if claim.data else None
    return {t for t in done if isinstance(t, str)} if isinstance(done, list) else set()


def _nothing_new(result: InboundResult, decision: Decision, config: Any, claim: Claim) -> None:
    """A record whose work stands as it is (COMPLETED; or, in a replay, quarantined): every target is a
    duplicate."""
    result.duplicates = (["quarantine"] if decision.quarantine else []) + [r.app for r in decision.deliver]
    stored = (claim.data or {}).get("sqsMessageIds")
    result.routes = logline.routes(
        decision,
        config,
        earlier=set(result.duplicates) | {_QUARANTINE},
        newly=[],
        sqs_ids=stored if isinstance(stored, dict) else {},
        sent=[],
    )
    result.quarantine_reasons = {r.app: reason for r, reason in decision.quarantine}


def _deliver(
    *,
    mail: dict[str, Any],
    receipt: dict[str, Any],
    ses_id: str,
    deps: Deps,
    load: Callable[[], Readable] | None,
    store: Any,
    claim: Claim,
    result: InboundResult,
) -> None:
    cfg = deps.config
    raw_key = f"{cfg.prefix_raw}{ses_id}"
    mail_from = str(mail.get("source") or "")
    key = claim.key
    done = _done(claim)
    decision = decide(route(event.recipients(receipt), cfg), receipt, cfg)
    # A replay finishes COMPLETED, except that a record that was not COMPLETED before stays PARTIAL while
    # a route the replay does not list is unfinished: a redelivery or redrive still finishes that route.
    replay = result.replay
    unfinished = False
    if replay is not None:
        unfinished = claim.status != COMPLETED and decision.unfinished_beyond(replay, done, _QUARANTINE)
        decision.narrow(replay)
    decision.check_senders(list(decision.deliver), cfg, mail_from, NOT_PARSED)
    if not claim.acquired:
        _nothing_new(result, decision, cfg, claim)
        return
    if replay is not None and _QUARANTINE in done:
        # Quarantine decisions stay: a replay delivers nothing of a quarantined email and leaves its record
        # (data and status) as it was.
        _nothing_new(result, decision, cfg, claim)
        result.reason = "quarantined_stays"
        store.complete(key, claim.data, partial=claim.status != COMPLETED)
        return
    newly: list[str] = []
    sqs_ids: dict[str, Any] = dict(claim.data.get("sqsMessageIds") or {}) if claim.data else {}
    # Known before any side effect, so a failure during the quarantine still names every target.
    pending: list[Route] = [r for r in decision.deliver if r.app not in done]
    quarantine_pending = bool(decision.quarantine) and _QUARANTINE not in done
    finished = False
    builder = Builder(deps, ses_id, load or (lambda: _open_raw(deps, raw_key)))
    try:
        if pending:
            held = len(decision.quarantine)
            _judge_content(builder.parse(), decision, pending, cfg, mail_from)
            pending = [r for r in decision.deliver if r.app not in done]
            # Routes the message itself refused are quarantined now, even if an earlier attempt wrote
            # the quarantine (it is rewritten with every quarantined route).
            quarantine_pending = quarantine_pending or len(decision.quarantine) > held
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
            raw_keys = rawaccess.grant(
                deps.s3,
                bucket=cfg.bucket,
                raw_key=raw_key,
                copies_prefix=cfg.prefix_raw_copies,
                ses_id=ses_id,
                apps=[r.app for r in decision.deliver],
                pending=[r.app for r in pending],
                fresh=claim.fresh,
            )
            builder.deliver_to([r.app for r in pending])
            while pending:
                r = pending[0]
                body, size = builder.body_for(r, decision.security, mail, receipt, raw_keys[r.app])
                sent = deps.sqs.send_message(QueueUrl=deps.queue_url(r.queue), MessageBody=body)
                newly.append(r.app)
                sqs_ids[r.app] = sent.get("MessageId") if isinstance(sent, dict) else None
                pending.pop(0)
                result.delivered.append(r.app)
                result.sent.append({"app": r.app, "bytes": size, "claimCheck": builder.claimed})
            result.claim_check = builder.claimed
            result.attachments = builder.attachments
        finished = True
    finally:
        result.size_bytes = builder.size_bytes  # a failed attempt's log line too names the email's size
        result.unsent = [r.app for r, _ in decision.quarantine] if quarantine_pending else []
        result.unsent += [r.app for r in pending if r.app not in result.unsent]
        result.routes = logline.routes(
            decision, cfg, earlier=done, newly=newly, sqs_ids=sqs_ids, sent=result.sent
        )
        result.quarantine_reasons = {r.app: reason for r, reason in decision.quarantine}
        record = {"done": sorted(done.union(newly)), "sqsMessageIds": sqs_ids}
        if finished:
            store.complete(key, record, partial=unfinished)
        else:
            # Never deleted, even with nothing done: the record holds the email's receipt for a redrive.
            store.release(key, record)


def _judge_content(
    parsed: ParsedEmail, decision: Decision, pending: list[Route], config: Any, mail_from: str
) -> None:
    """What only the message itself can decide: an email over an inbound limit is quarantined for every
    target; several From mailboxes are flagged; the sender policy needing the From header is applied."""
    if parsed.over_limit is not None:
        decision.refuse(pending, parsed.over_limit.reason)
        return
    if "multiple_from" in parsed.defects:
        decision.security.flags.append("multiple_from")
    header_from = parsed.from_["address"] if parsed.from_ and "multiple_from" not in parsed.defects else None
    decision.check_senders(pending, config, mail_from, header_from)


def _observe(
    result: InboundResult, ses_record: dict[str, Any], deps: Deps, metrics: Metrics, elapsed: float
) -> None:
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
    logline.write(result, ses_record, deps, result.outcome, elapsed)


def process(
    raw: bytes, ses_record: dict[str, Any], deps: Deps, metrics: Metrics | None = None
) -> InboundResult:
    """Run the whole inbound pipeline on `raw` (the bytes SES stored) with injected clients."""
    return run(ses_record, deps, load=lambda: io.BytesIO(raw), metrics=metrics)


def handle_record(
    ses_record: dict[str, Any],
    deps: Deps,
    metrics: Metrics | None = None,
    *,
    replay: frozenset[str] | None = None,
) -> InboundResult:
    """Lambda path: the raw MIME is read from `s3://<bucket>/<prefixes.raw><mail.messageId>` when needed.
    `replay`: the targets a replay event lists for this email (spec R)."""
    return run(ses_record, deps, metrics=metrics, replay=replay)
