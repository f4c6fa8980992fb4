"""What the stack stores about an inbound email, for ``mailflow trace``: its idempotency record and raw mail.

The record ``inbound#<sesId>`` says which targets the handler completed (``data.done``, with the SQS
message ids) and holds the SES record it was first processed from (``receipt``, contract C2); HeadObject
says whether the raw mail is still in ``raw/``. When no log line of an email is in the window (logs
expire, or the window was too short), an SES id still finds the email here.
"""

from __future__ import annotations

import json
from typing import Any

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.deploy.handlers.base import fan_out
from mailflow_cli.naming import RAW_PREFIX
from mailflow_cli.operate.inbound_replay import RECORD_KEY_PREFIX, SES_ID, stored_record
from mailflow_cli.operate.trace import INBOUND, QUARANTINE_TARGET, Match, TraceEvent, iso, parse_time

MAX_ENRICHED = 50  # matches whose stored state is read (two reads each, concurrently)


def record_item(ctx: StackContext, ses_id: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        item = (
            ctx.clients.client("dynamodb")
            .get_item(
                TableName=ctx.names.table, Key={"id": {"S": RECORD_KEY_PREFIX + ses_id}}, ConsistentRead=True
            )
            .get("Item")
        )
    except ClientError as exc:
        raise translate_client_error(exc, f"the table {ctx.names.table}") from exc
    return dict(item) if item else None


def _data(item: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(str(item.get("data", {}).get("S", "{}")))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_record(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    data = _data(item)
    expiration = item.get("expiration", {}).get("N")
    return {
        "status": item.get("status", {}).get("S"),
        "done": [t for t in data.get("done", []) if isinstance(t, str)],
        "sqsMessageIds": data.get("sqsMessageIds") if isinstance(data.get("sqsMessageIds"), dict) else {},
        "receiptStored": "receipt" in item,
        "expiresAt": iso(int(expiration) * 1000) if str(expiration or "").isdigit() else None,
    }


def describe_raw(ctx: StackContext, key: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        head = ctx.clients.client("s3").head_object(Bucket=ctx.names.bucket, Key=key)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return {"key": key, "present": False}
        if status == 403 or error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            return {"key": key, "present": None, "error": "access denied"}
        raise translate_client_error(exc, f"s3://{ctx.names.bucket}/{key}") from exc
    modified = head.get("LastModified")
    return {
        "key": key,
        "present": True,
        "bytes": int(head.get("ContentLength", 0)),
        "lastModified": iso(int(modified.timestamp() * 1000)) if modified is not None else None,
    }


def enrich(ctx: StackContext, matches: list[Match]) -> None:
    """Add the stored state to the first MAX_ENRICHED inbound matches."""
    inbound = [
        m
        for m in matches
        if m.direction == INBOUND and m.ses_message_id and SES_ID.fullmatch(m.ses_message_id)
    ]

    def read(match: Match) -> None:
        ses_id = str(match.ses_message_id)
        match.stored = {
            "record": describe_record(record_item(ctx, ses_id)),
            "raw": describe_raw(ctx, RAW_PREFIX + ses_id),
        }

    fan_out(read, inbound[:MAX_ENRICHED])


def _redacted(address: Any) -> str:
    local, at, domain = str(address).rpartition("@")
    return f"***@{domain.lower()}" if at and local else "***"


def from_record(ctx: StackContext, ses_id: str) -> Match | None:
    """An inbound match built from the email's idempotency record alone (no log line in the window)."""
    item = record_item(ctx, ses_id)
    if item is None:
        return None
    match = Match(direction=INBOUND, ses_message_id=ses_id)
    record = stored_record(item, ses_id)
    if isinstance(record, dict):
        mail, receipt = record["ses"].get("mail", {}), record["ses"].get("receipt", {})
        common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
        match.message_id = str(common.get("messageId") or "").strip("<>") or None
        recipients = receipt.get("recipients") if isinstance(receipt.get("recipients"), list) else []
        detail = {
            "mailFrom": _redacted(mail.get("source")),
            "recipients": [_redacted(r) for r in recipients],
            "rawKey": RAW_PREFIX + ses_id,
        }
        match.events.append(TraceEvent(parse_time(receipt.get("timestamp")), "received", detail=detail))
    described = describe_record(item) or {}
    for target in described.get("done", []):
        if target == QUARANTINE_TARGET:
            match.events.append(TraceEvent(None, "quarantined"))
            continue
        queue = ctx.names.default_queue if target == "default" else ctx.names.app_queue(target)
        sqs_id = described.get("sqsMessageIds", {}).get(target)
        match.events.append(
            TraceEvent(None, "delivered", target, queue, sqs_id if isinstance(sqs_id, str) else None)
        )
        match.apps.append(target)
    match.outcome = _record_outcome(described)
    match.stored = {"record": described, "raw": describe_raw(ctx, RAW_PREFIX + ses_id)}
    match.notes.append(
        "no log line of this email in the window: read from its idempotency record (times of delivery "
        "unknown; widen --since for the log lines)"
    )
    return match


def _record_outcome(described: dict[str, Any]) -> str:
    done = described.get("done", [])
    if described.get("status") != "COMPLETED":
        return f"in progress or failed (record {str(described.get('status', '')).lower()})"
    if any(target != QUARANTINE_TARGET for target in done):
        return "delivered"
    return "quarantined" if done else "duplicate"
