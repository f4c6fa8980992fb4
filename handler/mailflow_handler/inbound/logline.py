"""The one log line per inbound email (contract L): where each target went, for `mailflow trace`.

Addresses appear only redacted (`***@domain`) and as keyed hashes (`addressHashes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..addresses import log_hashes
from ..clients import Deps
from ..observability import logger, redact
from . import event
from .route import Route, why
from .verdicts import Decision

if TYPE_CHECKING:
    from .pipeline import InboundResult

QUARANTINE = "@quarantine"  # in the record's done list; not a valid app name


def routes(
    decision: Decision,
    config: Any,
    *,
    earlier: set[str],
    newly: list[str],
    sqs_ids: dict[str, Any],
    sent: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The log line's `routes`: one entry per target, with where it went and how it ended. `earlier` is
    what a previous attempt had done (`@quarantine` for the quarantine), `newly` what this one did."""
    claimed = {s["app"]: s["claimCheck"] for s in sent}
    entries: list[dict[str, Any]] = []
    for r, _ in decision.quarantine:
        outcome = "quarantined" if QUARANTINE in newly else "duplicate" if QUARANTINE in earlier else "failed"
        entries.append(_route(r, outcome, why="quarantine"))
    for r in decision.deliver:
        outcome = "delivered" if r.app in newly else "duplicate" if r.app in earlier else "failed"
        sqs_id = sqs_ids.get(r.app) if outcome != "failed" else None
        entries.append(
            _route(
                r, outcome, why=why(r, config), queue=r.queue, sqs_id=sqs_id, claim=claimed.get(r.app, False)
            )
        )
    return entries


def _route(
    r: Route, outcome: str, *, why: str, queue: str | None = None, sqs_id: Any = None, claim: bool = False
) -> dict[str, Any]:
    return {
        "app": r.app,
        "queue": queue,
        "why": why,
        "tag": r.tag[:64] if r.tag else None,
        "sqsMessageId": sqs_id if isinstance(sqs_id, str) else None,
        "claimCheck": claim,
        "outcome": outcome,
    }


def _object(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _message_id(mail: dict[str, Any]) -> str | None:
    """The RFC 5322 Message-ID SES read from the headers, without <>, at most 256 characters."""
    common = mail.get("commonHeaders")
    value = common.get("messageId") if isinstance(common, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value[:256]


def write(result: InboundResult, ses_record: Any, deps: Deps, outcome: str, elapsed: float) -> None:
    """The one log line per email (contract L). Addresses appear only redacted and as keyed hashes."""
    ses = ses_record.get("ses") if isinstance(ses_record, dict) else None
    mail = _object(ses, "mail")
    receipt = _object(ses, "receipt")
    source = mail.get("source") if isinstance(mail.get("source"), str) else None
    recipients = event.recipients(receipt)
    cfg = deps.config
    extra: dict[str, Any] = {}
    if result.quarantine_reasons:
        extra["quarantineReasons"] = result.quarantine_reasons
    if result.dead_lettered:
        extra["deadLetter"] = {"reason": result.reason}
    logger.info(
        "inbound email",
        sesMessageId=result.ses_message_id,
        messageId=_message_id(mail),
        receivedAt=receipt.get("timestamp") if isinstance(receipt.get("timestamp"), str) else None,
        outcome=outcome,
        apps=result.delivered,
        quarantined=result.quarantined,
        duplicates=result.duplicates,
        reason=result.reason,
        mailFrom=redact(source),
        recipients=[redact(r) for r in recipients[:50]],
        addressHashes=log_hashes(deps.dynamodb, cfg.idempotency_table, [source, *recipients]),
        rawKey=f"{cfg.prefix_raw}{result.ses_message_id}" if result.ses_message_id else None,
        routes=result.routes,
        **extra,
        sizeBytes=result.size_bytes,
        messageBytes=[s["bytes"] for s in result.sent],
        attachments=result.attachments,
        claimCheck=result.claim_check,
        durationMs=round(elapsed * 1000, 3),
    )
