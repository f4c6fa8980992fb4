"""What the message page shows of one email: who, what, its text and HTML bodies (capped), its
attachments and where its raw MIME is, built from an ``inbound.email`` message (and its claim-check
object) or from the MIME of a message in the outbox.

Every string here comes from a sender and is untrusted: templates escape it, and the HTML body is
cleaned (:mod:`.sanitize`) and shown only in a sandboxed frame. Bodies are capped so that a 40 MB message
gives a small page: the text at :data:`TEXT_LIMIT` characters, the HTML at :data:`HTML_LIMIT`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from mailflow_cli.local.ui.sanitize import clean_html

TEXT_LIMIT = 64 * 1024
"""Characters of the text body shown on the page."""
HTML_LIMIT = 512 * 1024
"""Characters of the HTML body cleaned and served to the frame."""
JSON_LIMIT = 64 * 1024
"""Characters of a queue message's JSON shown on the page."""
CLAIM_LIMIT = 64 * 1024 * 1024
"""A claim-check object larger than this is not read (the handler's own limits keep them below it)."""
MIME_PARSE_LIMIT = 45 * 1024 * 1024
"""An outbox message larger than this (SES sends at most 40 MB) is offered as raw MIME only."""


@dataclass(frozen=True)
class Capped:
    """A body cut to a limit: ``text`` and the size it had (``truncated`` when it was cut)."""

    text: str
    full_length: int
    limit: int

    @property
    def truncated(self) -> bool:
        return self.full_length > self.limit

    @classmethod
    def of(cls, text: str, limit: int) -> Capped:
        return cls(text=text[:limit], full_length=len(text), limit=limit)


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    """As the sender wrote it: untrusted, shown escaped only."""
    download_name: str
    """A safe ASCII name for Content-Disposition."""
    content_type: str
    size: int
    location: tuple[str, str] | None = None
    """The S3 object (bucket, key) holding it; None when it is a part of the MIME itself."""


@dataclass(frozen=True)
class MailView:
    subject: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    date: str = ""
    ses_message_id: str = ""
    text: Capped | None = None
    html: Capped | None = None
    attachments: tuple[Attachment, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """What could not be shown, in one sentence each."""


def pretty_json(body: str) -> Capped:
    try:
        shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        shown = body
    return Capped.of(shown, JSON_LIMIT)


def parsed_json(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _address(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    name, address = str(value.get("name") or ""), str(value.get("address") or "")
    return f"{name} <{address}>" if name else address


def _body(value: Any, limit: int) -> Capped | None:
    return Capped.of(value, limit) if isinstance(value, str) else None


def _html(value: Any) -> Capped | None:
    capped = _body(value, HTML_LIMIT)
    return None if capped is None else Capped(clean_html(capped.text), capped.full_length, capped.limit)


def from_inbound(message: dict[str, Any], claim: dict[str, Any] | None) -> MailView:
    """An ``inbound.email`` message, with the fields its claim-check object holds when it has one."""
    email = dict(message.get("email") or {})
    notes = []
    if claim is not None:
        email.update(claim)
    elif email.get("claimCheck"):
        notes.append("The bodies and attachments are in the claim-check object, which could not be read.")
    attachments = tuple(
        Attachment(
            index=int(item.get("index", position)),
            filename=str(item.get("filename") or ""),
            download_name=str(item.get("safeFilename") or f"part-{position}"),
            content_type=str(item.get("contentType") or "application/octet-stream"),
            size=int(item.get("size") or 0),
            location=(str(item.get("s3Bucket") or ""), str(item.get("s3Key") or "")),
        )
        for position, item in enumerate(email.get("attachments") or [])
        if isinstance(item, dict)
    )
    metadata = message.get("metadata") or {}
    return MailView(
        subject=str(email.get("subject") or ""),
        sender=_address(email.get("from")),
        recipients=tuple(_address(item) for item in email.get("to") or []),
        date=str(email.get("date") or ""),
        ses_message_id=str(metadata.get("sesMessageId") or ""),
        text=_body(email.get("text"), TEXT_LIMIT),
        html=_html(email.get("html")),
        attachments=attachments,
        notes=tuple(notes),
    )


def _mime_attachments(message: EmailMessage) -> Iterator[tuple[EmailMessage, Attachment]]:
    for index, part in enumerate(message.iter_attachments()):
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        yield (
            part,
            Attachment(
                index=index,
                filename=str(part.get_filename() or ""),
                download_name=f"part-{index}",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
            ),
        )


def parse_mime(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def mime_attachment(raw: bytes, index: int) -> bytes | None:
    """The decoded bytes of attachment ``index`` of a MIME message."""
    for position, (part, _) in enumerate(_mime_attachments(parse_mime(raw))):
        if position == index:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return None


def _part_text(part: Any) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def from_mime(raw: bytes, ses_message_id: str = "") -> MailView:
    """A message as MIME (the outbox): its headers, first text and HTML bodies and attachments."""
    if len(raw) > MIME_PARSE_LIMIT:
        return MailView(
            ses_message_id=ses_message_id,
            notes=(f"It is larger than {MIME_PARSE_LIMIT // 2**20} MB: only its raw MIME is offered.",),
        )
    message = parse_mime(raw)
    return MailView(
        subject=str(message.get("Subject", "")),
        sender=str(message.get("From", "")),
        recipients=tuple(str(value) for name in ("To", "Cc") for value in message.get_all(name) or []),
        date=str(message.get("Date", "")),
        ses_message_id=ses_message_id,
        text=_body(_part_text(message.get_body(preferencelist=("plain",))), TEXT_LIMIT),
        html=_html(_part_text(message.get_body(preferencelist=("html",)))),
        attachments=tuple(attachment for _, attachment in _mime_attachments(message)),
    )
