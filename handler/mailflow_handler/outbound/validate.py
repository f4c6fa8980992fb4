"""Validation of the outbound message, including our own header-injection guard.

The guard does not rely on the stdlib (CPython 3.11.7/3.12 < 3.12.5 let an encoded word that decodes to
CR/LF become a real header line, CVE-2024-6923; the stdlib also writes other decoded controls such as VT,
FF and ESC into the header as raw bytes), so every encoded word's decoded text gets the same control
character rule as plain text.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from email.header import decode_header
from typing import Any

from ..errors import PermanentError
from ..sestags import TagValueError, encode_value

_ENCODED_WORD = re.compile(r"=\?([^?]*)\?([^?]*)\?([^?]*)")
# C0 except TAB, DEL, C1, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Names SES reads as instructions in a raw message (configuration set, message tags, sending
# authorisation identities, list management), and Mailflow's own (the local emulator reads verdicts
# from them): an app may not set them.
_RESERVED_HEADER = re.compile(r"x-(ses|mailflow)(-.*)?", re.IGNORECASE)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(
    rf"^{_ATEXT}(?:\.{_ATEXT})*@(?=.{{1,253}}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9-]{2,63}$"
)
_HEADER_NAME = re.compile(r"^[Xx]-[\x21-\x39\x3b-\x7e]+$")
_MSG_ID = re.compile(r"^[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x5a\x5e-\x7e]+$")
_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_ALIASES = {
    "correlation_id": "correlationId",
    "reply_to": "replyTo",
    "in_reply_to": "inReplyTo",
    "content_type": "contentType",
    "content_id": "contentId",
    "s3_bucket": "bucket",
    "s3_key": "key",
    "s3Bucket": "bucket",
    "s3Key": "key",
}
MAX_SUBJECT = 998
_INJECTION = "header_injection"
MAX_NAME = 256
MAX_CUSTOM_HEADERS = 20
MAX_ATTACHMENTS = 50


class ValidationError(PermanentError):
    reason = "invalid_message"


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str | None = None


@dataclass(frozen=True)
class AttachmentRef:
    bucket: str
    key: str
    filename: str
    content_type: str
    content_id: str | None
    disposition: str


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class OutboundRequest:
    version: str
    correlation_id: str
    source: str
    timestamp: str | None
    sender: Mailbox
    to: list[Mailbox]
    cc: list[Mailbox]
    bcc: list[Mailbox]
    reply_to: list[Mailbox]
    subject: str
    text: str | None
    html: str | None
    in_reply_to: str | None
    references: list[str]
    custom_headers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)

    @property
    def destinations(self) -> list[str]:
        return [m.address for m in (*self.to, *self.cc, *self.bcc)]


def normalise_keys(value: Any, *, inside_headers: bool = False) -> Any:
    """Accept snake_case spellings: `correlation_id` -> `correlationId` etc. Custom header names are kept."""
    if isinstance(value, list):
        return [normalise_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key
        if not inside_headers or not str(key).lower().startswith("x-"):
            name = _ALIASES.get(key, key)
        out[name] = normalise_keys(item, inside_headers=(name == "headers"))
    return out


def contains_injection(value: str) -> bool:
    """True if `value` holds a control character (C0 but TAB, DEL, C1, U+2028/2029), directly or in the
    decoded text of an RFC 2047 encoded word (terminated or not, as we read it and as the stdlib does)."""
    if _CONTROL.search(value):
        return True
    if "=?" not in value:
        return False
    for charset, encoding, text in _ENCODED_WORD.findall(value):
        data = _decode_word(encoding, text)
        if data is None or _has_control(data, charset):
            return True
    try:
        chunks = decode_header(value)
    except Exception:
        return True
    return any(
        _has_control(chunk, charset) if isinstance(chunk, bytes) else bool(_CONTROL.search(chunk))
        for chunk, charset in chunks
    )


def _has_control(data: bytes, charset: str | None) -> bool:
    """Control bytes in any ASCII-compatible reading, or control characters in the declared charset's
    reading (an unknown charset is read as Latin-1, so C1 bytes count)."""
    if _CONTROL_BYTES.search(data):
        return True
    name = (charset or "").split("*", 1)[0].strip().lower()
    try:
        text = data.decode(name or "ascii", "replace")
    except (LookupError, ValueError, TypeError):
        text = data.decode("latin-1")
    return bool(_CONTROL.search(text))


def _decode_word(encoding: str, text: str) -> bytes | None:
    """Bytes of an encoded word; None if undecodable (treated as hostile)."""
    if encoding.lower() == "b":
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
        except (binascii.Error, ValueError):
            return None
    if encoding.lower() == "q" or not encoding:
        return re.sub(
            rb"=([0-9A-Fa-f]{2})",
            lambda m: bytes([int(m.group(1), 16)]),
            text.replace("_", " ").encode("latin-1", "replace"),
        )
    return None


def _check_utf8(field_name: str, value: str) -> None:
    """JSON allows lone surrogates (`"\\ud800"`); they cannot be encoded, so refuse them up front."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{field_name} is not valid Unicode (lone surrogate)") from exc


def check_text(field_name: str, value: Any, *, max_len: int = MAX_SUBJECT, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string")
    _check_utf8(field_name, value)
    if not allow_empty and not value.strip():
        raise ValidationError(f"{field_name} must not be empty")
    if contains_injection(value):
        raise ValidationError(
            f"{field_name} contains control characters (possibly in an encoded word)", reason=_INJECTION
        )
    if len(value) > max_len:
        raise ValidationError(f"{field_name} is longer than {max_len} characters")
    return value


def check_address(field_name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string")
    check_text(field_name, value, max_len=320)
    if not _ADDRESS.match(value):
        raise ValidationError(f"{field_name} is not a valid ASCII email address", reason="invalid_address")
    return value


def _mailbox(field_name: str, value: Any) -> Mailbox:
    if isinstance(value, str):
        return Mailbox(check_address(field_name, value))
    if not isinstance(value, dict):
        raise ValidationError(f"{field_name} must be an object with an address")
    address = check_address(f"{field_name}.address", value.get("address"))
    name = value.get("name")
    if name is not None:
        name = check_text(f"{field_name}.name", name, max_len=MAX_NAME) or None
    return Mailbox(address, name)


def _mailboxes(field_name: str, value: Any) -> list[Mailbox]:
    if value is None:
        return []
    if isinstance(value, (dict, str)):
        value = [value]
    if not isinstance(value, list):
        raise ValidationError(f"{field_name} must be a list")
    return [_mailbox(f"{field_name}[{i}]", v) for i, v in enumerate(value)]


def _message_id(field_name: str, value: Any) -> str:
    text = check_text(field_name, value, max_len=998).strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not _MSG_ID.match(text):
        raise ValidationError(f"{field_name} is not a valid message id")
    return text


def _references(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        check_text("headers.references", value, max_len=8000)
        value = re.findall(r"<[^<>]*>|[^\s<>]+", value)
    if not isinstance(value, list):
        raise ValidationError("headers.references must be a list or a string")
    return [_message_id(f"headers.references[{i}]", v) for i, v in enumerate(value)]


def _headers(value: Any) -> tuple[str | None, list[str], list[tuple[str, str]]]:
    if value is None:
        return None, [], []
    if not isinstance(value, dict):
        raise ValidationError("email.headers must be an object")
    in_reply_to = None
    references: list[str] = []
    custom: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, item in value.items():
        if name == "inReplyTo":
            in_reply_to = _message_id("headers.inReplyTo", item) if item is not None else None
        elif name == "references":
            references = _references(item)
        else:
            if not isinstance(name, str) or not _HEADER_NAME.match(name) or len(name) > 76:
                raise ValidationError(
                    f"custom header name {name!r} is not allowed (only X- names of RFC 5322 ftext)",
                    reason="header_injection" if isinstance(name, str) and contains_injection(name) else None,
                )
            if _RESERVED_HEADER.fullmatch(name):
                raise ValidationError(
                    f"custom header {name!r} is reserved (X-SES-* and X-Mailflow-* control SES and Mailflow)",
                    reason="header_not_allowed",
                )
            if name.lower() in seen:
                raise ValidationError(f"duplicate custom header {name!r}")
            seen.add(name.lower())
            custom.append((name, check_text(f"headers.{name}", item, max_len=998)))
    if len(custom) > MAX_CUSTOM_HEADERS:
        raise ValidationError(f"at most {MAX_CUSTOM_HEADERS} custom headers")
    return in_reply_to, references, custom


def _attachments(value: Any) -> list[AttachmentRef]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("email.attachments must be a list")
    if len(value) > MAX_ATTACHMENTS:
        raise ValidationError(f"at most {MAX_ATTACHMENTS} attachments")
    refs: list[AttachmentRef] = []
    for i, item in enumerate(value):
        where = f"attachments[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{where} must be an object")
        bucket, key = item.get("bucket"), item.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise ValidationError(f"{where} needs bucket and key")
        _check_utf8(f"{where}.bucket", bucket)
        _check_utf8(f"{where}.key", key)
        filename = check_text(f"{where}.filename", item.get("filename"), max_len=255, allow_empty=False)
        if "/" in filename or "\\" in filename or '"' in filename:
            raise ValidationError(f"{where}.filename must be a plain file name")
        content_type = item.get("contentType", "application/octet-stream")
        if not isinstance(content_type, str) or not _MIME_TYPE.match(content_type):
            raise ValidationError(f"{where}.contentType must be type/subtype")
        if content_type.lower().startswith(("multipart/", "message/")):
            # A multipart or message part would be read as MIME structure (hidden parts, headers).
            raise ValidationError(f"{where}.contentType may not be multipart/* or message/*")
        content_id = item.get("contentId")
        if content_id is not None:
            content_id = (
                _message_id(f"{where}.contentId", content_id)
                if "@" in str(content_id)
                else check_text(f"{where}.contentId", content_id, max_len=250).strip("<>")
            )
            if not content_id or not re.fullmatch(r"[\x21-\x3b\x3d\x3f-\x7e]+", content_id):
                raise ValidationError(f"{where}.contentId is not a valid content id")
        disposition = item.get("disposition") or ("inline" if content_id else "attachment")
        if disposition not in ("inline", "attachment"):
            raise ValidationError(f"{where}.disposition must be inline or attachment")
        refs.append(AttachmentRef(bucket, key, filename, content_type.lower(), content_id, disposition))
    return refs


def validate(document: Any, max_recipients: int) -> OutboundRequest:
    """Normalise spellings and validate; raises ValidationError (permanent) with a clear message."""
    if not isinstance(document, dict):
        raise ValidationError("message must be a JSON object")
    doc = normalise_keys(document)
    version = doc.get("version", "1.0")
    if version != "1.0":
        raise ValidationError(f"unsupported version {version!r}")
    correlation_id = doc.get("correlationId")
    if not isinstance(correlation_id, str) or not correlation_id.strip() or len(correlation_id) > 256:
        raise ValidationError("correlationId is required (a string of at most 256 characters)")
    check_text("correlationId", correlation_id, max_len=256)
    try:
        encode_value(correlation_id)  # it travels to SES's events as a message tag (contract E)
    except TagValueError as exc:
        raise ValidationError(
            f"correlationId cannot be carried in an SES message tag: {exc}", reason="invalid_correlation_id"
        ) from None
    source = doc.get("source")
    if not isinstance(source, str) or not source:
        raise ValidationError("source (the sending app) is required")
    email = doc.get("email")
    if not isinstance(email, dict):
        raise ValidationError("email must be an object")
    body = email.get("body") or {}
    if not isinstance(body, dict):
        raise ValidationError("email.body must be an object")
    text, html = body.get("text"), body.get("html")
    if text is None and html is None:
        raise ValidationError("email.body needs text or html")
    for name, part in (("text", text), ("html", html)):
        if part is not None and (not isinstance(part, str) or "\x00" in part):
            raise ValidationError(f"email.body.{name} must be a string without NUL")
        if part is not None:
            _check_utf8(f"email.body.{name}", part)
    in_reply_to, references, custom = _headers(email.get("headers"))
    request = OutboundRequest(
        version=version,
        correlation_id=correlation_id,
        source=source,
        timestamp=doc.get("timestamp") if isinstance(doc.get("timestamp"), str) else None,
        sender=_mailbox("email.from", email.get("from")),
        to=_mailboxes("email.to", email.get("to")),
        cc=_mailboxes("email.cc", email.get("cc")),
        bcc=_mailboxes("email.bcc", email.get("bcc")),
        reply_to=_mailboxes("email.replyTo", email.get("replyTo")),
        subject=check_text("email.subject", email.get("subject", ""), max_len=MAX_SUBJECT),
        text=text,
        html=html,
        in_reply_to=in_reply_to,
        references=references,
        custom_headers=custom,
        attachments=_attachments(email.get("attachments")),
    )
    count = len(request.destinations)
    if count == 0:
        raise ValidationError("at least one recipient (to, cc or bcc) is required")
    if count > max_recipients:
        raise ValidationError(
            f"{count} recipients exceed the limit of {max_recipients} per message",
            reason="too_many_recipients",
        )
    return request
