"""The SES event record: the parts the pipeline reads, and the trimmed copy kept for replay (contract C2).

Everything the handler decides (routing, verdicts, the sender policy) comes from `ses.receipt`,
`ses.mail.source` and the raw mail in S3; the trimmed record keeps exactly that, so processing it again
routes and decides the same way. Header copies (`ses.mail.headers`, `commonHeaders`) are left out: the
handler never reads them, and they are most of the record's size.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import PermanentError

SOURCE = "aws:ses"
_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_RECEIPT_KEYS = (
    "timestamp",
    "recipients",
    "spamVerdict",
    "virusVerdict",
    "spfVerdict",
    "dkimVerdict",
    "dmarcVerdict",
    "dmarcPolicy",
    "action",
)


def parts(ses_record: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """`ses.mail`, `ses.receipt` and the validated SES message id, or a PermanentError (invalid_event)."""
    ses = ses_record.get("ses") if isinstance(ses_record, dict) else None
    mail = ses.get("mail") if isinstance(ses, dict) else None
    receipt = ses.get("receipt") if isinstance(ses, dict) else None
    if not isinstance(mail, dict) or not isinstance(receipt, dict):
        raise PermanentError("SES record lacks ses.mail or ses.receipt", reason="invalid_event")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not ses_id or not set(ses_id) <= _SAFE_ID or len(ses_id) > 200:
        raise PermanentError(f"invalid SES messageId {ses_id!r}", reason="invalid_event")
    return mail, receipt, ses_id


def recipients(receipt: dict[str, Any]) -> list[str]:
    value = receipt.get("recipients")
    return [r for r in value if isinstance(r, str)] if isinstance(value, list) else []


def trimmed(ses_record: dict[str, Any], mail: dict[str, Any], receipt: dict[str, Any]) -> str:
    """The JSON of the record as the handler needs it to process the email again: `ses.mail` without
    `headers` and with only `commonHeaders.messageId`, `ses.receipt` with recipients, verdicts,
    dmarcPolicy, timestamp and action."""
    kept_mail = {k: v for k, v in mail.items() if k not in ("headers", "commonHeaders")}
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and "messageId" in common:
        kept_mail["commonHeaders"] = {"messageId": common["messageId"]}
    record = {
        "eventSource": SOURCE,
        "eventVersion": ses_record.get("eventVersion", "1.0"),
        "ses": {"mail": kept_mail, "receipt": {k: receipt[k] for k in _RECEIPT_KEYS if k in receipt}},
    }
    return json.dumps(record, separators=(",", ":"), default=str)


def stored(text: str | None, ses_id: str) -> dict[str, Any] | None:
    """The record the handler stored for `ses_id` (the `receipt` of its idempotency item), when `text` is
    one: an aws:ses record of that email with `ses.mail` and `ses.receipt`."""
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("eventSource") != SOURCE:
        return None
    try:
        _, _, stored_id = parts(record)
    except PermanentError:
        return None
    return record if stored_id == ses_id else None
