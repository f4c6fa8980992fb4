"""Attachments (inline images included) are decoded one at a time and streamed to S3."""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from email.message import Message
from typing import Any

from .parse import AttachmentPart

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_OCTET = "application/octet-stream"
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
}


def sanitise_filename(name: str | None, index: int, content_type: str) -> str:
    """An S3-safe file name: ASCII [A-Za-z0-9._-], no leading dots, at most 100 characters."""
    if name:
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        ascii_name = ascii_name.replace("\\", "/").rsplit("/", 1)[-1]
        cleaned = _UNSAFE.sub("_", ascii_name).strip("._")
        while ".." in cleaned:
            cleaned = cleaned.replace("..", ".")
        if cleaned:
            if len(cleaned) > 100:
                stem, dot, ext = cleaned.rpartition(".")
                cleaned = (stem[: 99 - len(ext)] + "." + ext) if dot and len(ext) <= 10 else cleaned[:100]
            return cleaned
    return f"part-{index}{_EXTENSIONS.get(content_type, '.bin')}"


def _payload_bytes(part: Message) -> bytes:
    """The decoded body. A base64 str payload is dropped from the part first and decoded in one C call,
    so the encoded text and the decoded bytes are the only copies alive (the stdlib path makes four)."""
    encoded = part.get_payload()
    if (
        isinstance(encoded, str)
        and encoded.isascii()
        and str(part.get("content-transfer-encoding", "")).lower() == "base64"
    ):
        part.set_payload("")
        try:
            return binascii.a2b_base64(encoded)
        except binascii.Error:
            part.set_payload(encoded)
        finally:
            del encoded
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, list):
        return "\n".join(str(p) for p in raw).encode("utf-8", "surrogateescape")
    return str(raw or "").encode("utf-8", "surrogateescape")


def store_attachments(
    parts: list[AttachmentPart], s3: Any, bucket: str, prefix: str, ses_message_id: str
) -> list[dict[str, Any]]:
    """Upload every attachment under `<prefix><sesMessageId>/<index>-<name>` and describe it.

    Each part's payload is released once uploaded so only one decoded attachment is alive at a time.
    """
    described: list[dict[str, Any]] = []
    for index, att in enumerate(parts):
        body, att.body = att.body, None
        try:
            if body is not None:
                from .bigparse import decode_body  # loaded already: only the fast path sets `body`

                data = decode_body(att.part, body)
            else:
                data = _payload_bytes(att.part)
        except Exception:
            data = (
                bytes(body)
                if body is not None
                else str(att.part.get_payload()).encode("utf-8", "surrogateescape")
            )
        del body
        key = f"{prefix}{ses_message_id}/{index}-{sanitise_filename(att.filename, index, att.content_type)}"
        digest = hashlib.sha256(data).hexdigest()
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            # Belt and braces: the parser already maps unsafe types to application/octet-stream, and a
            # non-ASCII header value would fail in botocore (not retryable, but it looked transient).
            ContentType=att.content_type if _SAFE_TYPE.fullmatch(att.content_type) else _OCTET,
        )
        described.append(
            {
                "index": index,
                "filename": att.filename,
                "contentType": att.content_type,
                "size": len(data),
                "sha256": digest,
                "contentId": att.content_id,
                "disposition": att.disposition,
                "embedded": att.embedded,
                "s3Bucket": bucket,
                "s3Key": key,
            }
        )
        del data
        att.part.set_payload("")
    return described
