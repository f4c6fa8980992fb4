"""Attachments (inline images included): decoded, stored in S3 per target app, described for the message.

The S3 objects are served as downloads (`Content-Disposition: attachment`) under a sanitised file name,
and never with a type a browser would run: apps may hand them to users through presigned URLs.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from email.message import Message
from typing import Any

from .mime import decode_body, raw_body
from .parse import AttachmentPart

UPLOAD_WORKERS = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# Types a browser renders or executes: (X)HTML, SVG and any XML, scripts, XSLT, HTML components, Flash.
_ACTIVE = re.compile(r"html|xml|svg|xsl|javascript|ecmascript|jscript|vbscript|x-component|flash")
_OCTET = "application/octet-stream"
# Device names Windows will not open as files, with or without an extension.
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)
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
    """A file name safe as an S3 key segment and as a file name on any system: ASCII [A-Za-z0-9._-], no
    directory part, no leading dots, no `..`, no device name, at most 100 characters (`safeFilename`)."""
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
            return f"_{cleaned[:99]}" if _RESERVED.fullmatch(cleaned) else cleaned
    return f"part-{index}{_EXTENSIONS.get(content_type, '.bin')}"


def _payload_bytes(part: Message) -> bytes:
    """The decoded body. A base64 str payload is dropped from the part first and decoded in one C call,
    so the encoded text and the decoded bytes are the only copies alive (the stdlib path makes four).
    A message/* part stored whole is its serialised subparts."""
    if part.is_multipart():
        return "\n".join(str(p) for p in part.get_payload()).encode("utf-8", "surrogateescape")
    encoded = raw_body(part)
    if encoded.isascii() and str(part.get("content-transfer-encoding", "")).lower() == "base64":
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
    return raw_body(part).encode("utf-8", "surrogateescape")


def stored_content_type(content_type: str) -> str:
    """The `ContentType` of the stored object: the declared type, unless a browser could run it (HTML,
    SVG, XML, scripts, ...) or it is not a plain `type/subtype` token: then application/octet-stream."""
    if not _SAFE_TYPE.fullmatch(content_type) or _ACTIVE.search(content_type):
        return _OCTET
    return content_type


def attachment_key(prefix: str, app: str, ses_message_id: str, index: int, safe_name: str) -> str:
    return f"{prefix}{app}/{ses_message_id}/{index}-{safe_name}"


def _decoded(att: AttachmentPart) -> bytes:
    body, att.body = att.body, None
    try:
        return decode_body(att.part, body) if body is not None else _payload_bytes(att.part)
    except Exception:
        return bytes(body) if body is not None else raw_body(att.part).encode("utf-8", "surrogateescape")


def store_attachments(
    parts: list[AttachmentPart],
    s3: Any,
    *,
    bucket: str,
    prefix: str,
    ses_message_id: str,
    apps: list[str],
    app_slot: str,
) -> list[dict[str, Any]]:
    """Store every attachment for each of `apps` under `<prefix><app>/<sesMessageId>/<index>-<name>` and
    describe it; the description's `s3Key` has `app_slot` where the app name goes.

    Each attachment is decoded once and put once per app: a server-side copy from the first app's object
    would need the handler role to read attachments/, which it does not (contract C1). Up to
    UPLOAD_WORKERS attachments are decoded and uploaded at a time (botocore clients are thread-safe);
    each part's payload is released once uploaded, so at most that many decoded attachments are alive.
    """

    def store(index: int) -> dict[str, Any]:
        att = parts[index]
        data = _decoded(att)
        safe_name = sanitise_filename(att.filename, index, att.content_type)
        for app in apps:
            s3.put_object(
                Bucket=bucket,
                Key=attachment_key(prefix, app, ses_message_id, index, safe_name),
                Body=data,
                ContentType=stored_content_type(att.content_type),
                ContentDisposition=f'attachment; filename="{safe_name}"',
            )
        described = {
            "index": index,
            "filename": att.filename,
            "safeFilename": safe_name,
            "contentType": att.content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "contentId": att.content_id,
            "disposition": att.disposition,
            "embedded": att.embedded,
            "s3Bucket": bucket,
            "s3Key": attachment_key(prefix, app_slot, ses_message_id, index, safe_name),
        }
        del data
        att.part.set_payload("")
        return described

    if len(parts) <= 1:
        return [store(index) for index in range(len(parts))]
    from concurrent.futures import ThreadPoolExecutor  # only mail with several attachments pays for it

    with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(parts))) as pool:
        return list(pool.map(store, range(len(parts))))
