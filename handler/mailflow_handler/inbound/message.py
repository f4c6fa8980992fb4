"""The `inbound.email` JSON message (docs/schemas/inbound-email.schema.json) and its claim check."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from .parse import ParsedEmail
from .route import Route
from .verdicts import Security

VERSION = "1.1"
TYPE = "inbound.email"
_ID_NAMESPACE = uuid.UUID("6f1c0e52-3a5e-4a8e-9d56-1f0b8f5b7c11")
CLAIMED_FIELDS = (
    "text",
    "html",
    "additionalBodies",
    "headers",
    "attachments",
    "to",
    "cc",
    "replyTo",
    "references",
    "embeddedMessages",
)
_EMPTY: dict[str, Any] = {
    "text": None,
    "html": None,
    "additionalBodies": [],
    "headers": [],
    "attachments": [],
    "to": [],
    "cc": [],
    "replyTo": [],
    "references": [],
    "embeddedMessages": [],
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_id_for(ses_message_id: str, target: str) -> str:
    """Deterministic per (email, target): a redelivered copy carries the same id, so apps can dedupe."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{ses_message_id}/{target}"))


def email_section(parsed: ParsedEmail, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    text: str | None = None
    html: str | None = None
    others: list[dict[str, Any]] = []
    for body in parsed.bodies:
        if text is None and body.content_type == "text/plain" and not body.embedded:
            text = body.content
        elif html is None and body.content_type == "text/html" and not body.embedded:
            html = body.content
        else:
            others.append(
                {
                    "contentType": body.content_type,
                    "charset": body.charset,
                    "content": body.content,
                    "embedded": body.embedded,
                }
            )
    return {
        "messageId": parsed.message_id,
        "from": parsed.from_,
        "to": parsed.to,
        "cc": parsed.cc,
        "replyTo": parsed.reply_to,
        "subject": parsed.subject,
        "date": parsed.date,
        "dateIso": parsed.date_iso,
        "inReplyTo": parsed.in_reply_to,
        "references": parsed.references,
        "text": text,
        "html": html,
        "additionalBodies": others,
        "headers": [{"name": n, "value": v} for n, v in parsed.headers],
        "attachments": attachments,
        "embeddedMessages": parsed.embedded_messages,
        "sizeBytes": parsed.size_bytes,
        "parseDefects": parsed.defects,
        "claimCheck": None,
    }


def build(
    *,
    route: Route,
    email: dict[str, Any],
    security: Security,
    mail: dict[str, Any],
    receipt: dict[str, Any],
    bucket: str,
    raw_key: str,
) -> dict[str, Any]:
    ses_id = str(mail.get("messageId", ""))
    return {
        "version": VERSION,
        "type": TYPE,
        "id": message_id_for(ses_id, route.app),
        "timestamp": now_iso(),
        "app": route.app,
        "tag": route.tag,
        "tags": route.tags,
        "envelope": {
            "mailFrom": str(mail.get("source") or ""),
            "recipients": route.recipients,
        },
        "email": email,
        "security": security.as_json(),
        "metadata": {
            "sesMessageId": ses_id,
            "receivedAt": mail.get("timestamp") if isinstance(mail.get("timestamp"), str) else None,
            "s3Bucket": bucket,
            "s3ObjectKey": raw_key,
        },
    }


_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def serialise(message: dict[str, Any]) -> str:
    """Compact JSON that SQS accepts: characters outside XML's legal set are written as JSON escapes."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii() and _NOT_XML.search(text):
        text = _NOT_XML.sub(_escape, text)
    return text


def serialise_around(message: dict[str, Any], key: str = "email") -> tuple[str, str]:
    """`(prefix, suffix)` with `prefix + serialise(message[key]) + suffix == serialise(message)`.

    A multi-app email shares one `email` section: it is serialised once and spliced between each
    target's prefix and suffix, which hold only the small per-target fields. The escaping of
    `serialise` is per character, so serialising the parts separately gives the same bytes.
    """
    head: dict[str, Any] = {}
    tail: dict[str, Any] = {}
    part = head
    for name, value in message.items():
        if name == key:
            part = tail
        else:
            part[name] = value
    if part is head:
        raise KeyError(key)
    name_json = json.dumps(key)
    prefix = (serialise(head)[:-1] + ",") if head else "{"
    suffix = ("," + serialise(tail)[1:]) if tail else "}"
    return f"{prefix}{name_json}:", suffix


def claim_document(email: dict[str, Any]) -> bytes:
    return serialise({f: email[f] for f in CLAIMED_FIELDS}).encode("utf-8")


def apply_claim(email: dict[str, Any], bucket: str, key: str, document: bytes) -> dict[str, Any]:
    """A copy of `email` whose bulky fields are replaced by a pointer to `document` in S3."""
    claimed = dict(email)
    claimed.update(_EMPTY)
    claimed["claimCheck"] = {
        "s3Bucket": bucket,
        "s3Key": key,
        "sizeBytes": len(document),
        "sha256": hashlib.sha256(document).hexdigest(),
        "fields": list(CLAIMED_FIELDS),
    }
    return claimed
