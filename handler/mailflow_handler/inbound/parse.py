"""Defensive MIME parsing: compat32 only, bounded work, no exception escapes `parse()`.

CPython's `policy.default` raises on real mail and is super-linear on huge headers, so it is never
used here; addresses go through `email.utils.getaddresses` and words through `email.header.decode_header`.
An email over one of the inbound limits (`config.InboundLimits`) comes back with `over_limit` set and
nothing else parsed: the pipeline quarantines it before storing anything.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass, field
from email._policybase import compat32  # not email.policy: that imports headerregistry
from email.feedparser import BytesFeedParser
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from ..config import InboundLimits
from .mime import (
    CHUNK,
    LimitExceeded,
    Readable,
    cap_headers,
    decode_body,
    find_header_end,
    multipart_boundary,
    parse_message,
    raw_body,
)

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSGID = re.compile(r"<([^<>]*)>")
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_PARAM_HEADERS = frozenset({"content-type", "content-disposition"})
# A content type that is safe as an HTTP header value (S3 ContentType) and in JSON consumers.
_SAFE_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# Messages of at least this size take the large-body fast path (`bigparse.py`, imported only then).
FAST_MIN_MESSAGE = 1 << 20


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class BodyPart:
    content_type: str
    charset: str | None
    content: str
    embedded: bool


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class AttachmentPart:
    part: Message
    content_type: str
    filename: str | None
    content_id: str | None
    disposition: str
    embedded: bool
    # The raw (still transfer-encoded) body when the fast path kept it out of the parser; decode it
    # with `mime.decode_body`. None: the body is the part's payload.
    body: memoryview | None = None


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class ParsedEmail:
    size_bytes: int
    headers: list[tuple[str, str]]
    message_id: str | None
    from_: dict[str, Any] | None
    to: list[dict[str, Any]]
    cc: list[dict[str, Any]]
    reply_to: list[dict[str, Any]]
    subject: str | None
    date: str | None
    date_iso: str | None
    in_reply_to: str | None
    references: list[str]
    bodies: list[BodyPart] = field(default_factory=list)
    attachments: list[AttachmentPart] = field(default_factory=list)
    embedded_messages: list[dict[str, Any]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    # Set when the email exceeds an inbound limit; the other fields are then empty.
    over_limit: LimitExceeded | None = None

    @classmethod
    def refused(cls, size: int, exceeded: LimitExceeded) -> ParsedEmail:
        return cls(size, [], None, None, [], [], [], None, None, None, None, [], over_limit=exceeded)


def to_text(value: str) -> str:
    """A compat32 header value (surrogate-escaped bytes) as real text; 8-bit bytes read as UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")


def unfold(value: str) -> str:
    return _FOLD.sub("", value).strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    name = (charset or "").strip().strip('"').lower().split("*", 1)[0]
    if name and name not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            codecs.lookup(name)
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            name = ""
        else:
            try:
                return data.decode(name, "replace")
            except (LookupError, UnicodeError, ValueError, TypeError):
                name = ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; anything undecodable is kept as written."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            try:
                out.append(chunk.decode("raw-unicode-escape"))
            except UnicodeDecodeError:
                out.append(chunk.decode("latin-1"))
        else:
            out.append(decode_bytes(chunk, charset))
    return "".join(out)


def _addresses(values: list[str], defects: list[str], header: str) -> list[dict[str, Any]]:
    if not values:
        return []
    try:
        pairs = getaddresses(values)
    except Exception:
        defects.append(f"address_parse_error:{header}")
        return []
    out: list[dict[str, Any]] = []
    for name, addr in pairs:
        if addr and "@" in addr:
            decoded = decode_words(name).strip() if name else ""
            out.append({"address": addr.strip(), "name": decoded or None})
    if not out and any(v.strip() for v in values) and ":" not in "".join(values):
        defects.append(f"no_valid_address:{header}")
    return out


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = [m.strip() for m in _MSGID.findall(value) if m.strip()]
    return found or value.split()


def _safe_type(part: Message, max_field: int, defects: list[str]) -> tuple[str, bool]:
    """Content type, and whether its parameters are small enough to parse."""
    for name, value in part.raw_items():
        if name.lower() in _PARAM_HEADERS and len(value) > max_field:
            defects.append(f"oversized_part_header:{name.lower()}")
            return "application/octet-stream", False
    try:
        content_type = part.get_content_type()
    except Exception:
        defects.append("bad_content_type")
        return "application/octet-stream", False
    if not _SAFE_TYPE.fullmatch(content_type):
        # Non-ASCII (U+FFFD from a latin-1 byte), spaces, quotes...: never let it reach an HTTP header.
        defects.append("bad_content_type")
        return "application/octet-stream", True
    return content_type, True


def _clean_cid(value: str | None) -> str | None:
    if not value:
        return None
    text = unfold(to_text(str(value)))
    return text[1:-1].strip() if text.startswith("<") and text.endswith(">") else text or None


def _part_text(part: Message, content_type: str, body: memoryview | None = None) -> tuple[str, str | None]:
    if body is not None:
        payload: Any = decode_body(part, body)
    else:
        payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(payload or "").encode("utf-8", "surrogateescape")
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset), charset


class _Budget:
    """The limits `_walk` enforces as it goes: attachments, decoded bytes, attached messages' headers."""

    def __init__(self, limits: InboundLimits) -> None:
        self.limits = limits
        self.decoded = 0
        self.embedded_headers = limits.max_embedded_header_bytes

    def add_content(self, part: Message, body: memoryview | None) -> None:
        self.decoded += _decoded_size_bound(part, body)
        if self.decoded > self.limits.max_decoded_bytes:
            raise LimitExceeded(
                "decoded_too_large", f"more than {self.limits.max_decoded_bytes} bytes of decoded content"
            )

    def check_attachments(self, count: int) -> None:
        if count > self.limits.max_attachments:
            limit = self.limits.max_attachments
            raise LimitExceeded("too_many_attachments", f"more than {limit} attachments")


def _decoded_size_bound(part: Message, body: memoryview | None) -> int:
    """At least the part's decoded size, without decoding it: base64 decodes to at most 3/4 of its
    length, quoted-printable and the identity encodings to at most their length. A message/* part that
    is stored whole counts its subtree's headers and payloads."""
    if body is not None:
        size = len(body)
    else:
        size = 0
        stack = [part]
        while stack:
            node = stack.pop()
            if node.is_multipart():
                size += sum(len(name) + len(value) + 4 for name, value in node.raw_items())
                stack.extend(child for child in node.get_payload() if isinstance(child, Message))
            else:
                size += len(raw_body(node))
    if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        return size * 3 // 4 + 3
    return size


def _walk(msg: Message, email: ParsedEmail, limits: InboundLimits, big: dict[int, memoryview]) -> None:
    """Collect bodies, attachments and attached messages; the parser already bounded parts and depth."""
    defects = email.defects
    max_field = limits.max_header_field_bytes
    budget = _Budget(limits)
    stack: list[tuple[Message, bool]] = [(msg, False)]
    while stack:
        part, embedded = stack.pop()
        content_type, params_ok = _safe_type(part, max_field, defects)
        for defect in part.defects:
            defects.append(type(defect).__name__)
        if part.is_multipart():
            payload: list[Message] = part.get_payload()  # type: ignore[assignment]  # a list when multipart
            if content_type in ("message/rfc822", "message/global") and payload:
                inner = payload[0]
                if isinstance(inner, Message):
                    email.embedded_messages.append(_summary(inner, budget, max_field, defects))
                    stack.append((inner, True))
                continue
            if content_type.startswith("message/"):
                budget.add_content(part, None)
                email.attachments.append(
                    AttachmentPart(part, content_type, None, None, "attachment", embedded)
                )
                budget.check_attachments(len(email.attachments))
                continue
            stack.extend((child, embedded) for child in reversed(payload) if isinstance(child, Message))
            continue
        disposition = "inline"
        filename: str | None = None
        if params_ok:
            try:
                disposition = part.get_content_disposition() or "inline"
                raw_name = part.get_filename()
                filename = decode_words(to_text(str(raw_name))) if raw_name else None
            except Exception:
                defects.append("bad_disposition")
        if content_type.startswith("multipart/"):
            defects.append("multipart_without_parts")
            content_type = "text/plain"
        budget.add_content(part, big.get(id(part)))
        if content_type in _BODY_TYPES and disposition != "attachment" and not filename:
            try:
                text, charset = _part_text(part, content_type, big.get(id(part)))
            except Exception:
                defects.append("body_decode_error")
                text, charset = "", None
            email.bodies.append(BodyPart(content_type, charset, text, embedded))
            continue
        email.attachments.append(
            AttachmentPart(
                part,
                content_type,
                filename,
                _clean_cid(part.get("Content-ID")) if params_ok else None,
                disposition if disposition in ("inline", "attachment") else "attachment",
                embedded,
                big.get(id(part)),
            )
        )
        budget.check_attachments(len(email.attachments))


def _header_map(msg: Message) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    ordered: list[tuple[str, str]] = []
    by_name: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        text = unfold(to_text(value))
        ordered.append((to_text(name), text))
        by_name.setdefault(name.lower(), []).append(text)
    return ordered, by_name


def _first(by_name: dict[str, list[str]], name: str) -> str | None:
    values = by_name.get(name)
    return values[0] if values else None


def _embedded_headers(inner: Message, budget: _Budget, max_field: int, defects: list[str]) -> Message:
    """The attached message's header block, capped like the top-level one (`cap_headers`) at what is
    left of the email's `limits.maxEmbeddedHeaderBytes`, so huge attached headers cost no address or
    word decoding."""
    remaining = budget.embedded_headers
    block = bytearray()
    for name, value in inner.raw_items():
        if len(block) > remaining:
            break
        block += f"{name}: ".encode("ascii", "surrogateescape")
        block += value[: remaining + 1].encode("ascii", "surrogateescape") + b"\r\n"
    capped, capped_defects = cap_headers(bytes(block[: remaining + 3]), remaining, max_field)
    defects.extend(f"embedded_{defect}" for defect in capped_defects)
    budget.embedded_headers = max(0, remaining - len(capped))
    parser = BytesFeedParser(policy=compat32)
    parser.feed(capped + b"\r\n")
    return parser.close()


def _summary(inner: Message, budget: _Budget, max_field: int, defects: list[str]) -> dict[str, Any]:
    _, by_name = _header_map(_embedded_headers(inner, budget, max_field, defects))
    scratch: list[str] = []
    subject = _first(by_name, "subject")
    from_ = _addresses(by_name.get("from", []), scratch, "from")
    return {
        "messageId": next(iter(_msg_ids(_first(by_name, "message-id"))), None),
        "subject": decode_words(subject) if subject is not None else None,
        "from": from_[0] if from_ else None,
        "date": _first(by_name, "date"),
    }


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except Exception:
        return None


def _build(
    msg: Message, size: int, defects: list[str], limits: InboundLimits, big: dict[int, memoryview]
) -> ParsedEmail:
    ordered, by_name = _header_map(msg)
    subject = _first(by_name, "subject")
    date = _first(by_name, "date")
    in_reply_to = _msg_ids(_first(by_name, "in-reply-to"))
    from_fields = by_name.get("from", [])
    from_list = _addresses(from_fields, defects, "from")
    if len(from_fields) > 1 or len(from_list) > 1:
        # RFC 5322 allows one From field; several mailboxes hide who the sender claims to be.
        defects.append("multiple_from")
    email = ParsedEmail(
        size_bytes=size,
        headers=ordered,
        message_id=next(iter(_msg_ids(_first(by_name, "message-id"))), None),
        from_=from_list[0] if from_list else None,
        to=_addresses(by_name.get("to", []), defects, "to"),
        cc=_addresses(by_name.get("cc", []), defects, "cc"),
        reply_to=_addresses(by_name.get("reply-to", []), defects, "reply-to"),
        subject=decode_words(subject) if subject is not None else None,
        date=date,
        date_iso=_iso_date(date),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_msg_ids(_first(by_name, "references")),
        defects=defects,
    )
    try:
        _walk(msg, email, limits, big)
    except LimitExceeded as exceeded:
        return ParsedEmail.refused(size, exceeded)
    if len(email.defects) > 100:
        email.defects[100:] = [f"and {len(email.defects) - 100} more"]
    return email


class _Replay:
    """`head` first, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head: bytes | None = head
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        head, self._head = self._head, None
        if head is None:
            return self._stream.read(size)
        if size < 0:
            return head + (self._stream.read() or b"")
        if len(head) < size:
            return head + (self._stream.read(size - len(head)) or b"")
        if len(head) > size:
            self._head = head[size:]
            return head[:size]
        return head


def parse_stream(stream: Readable, limits: InboundLimits) -> ParsedEmail:
    """Parse MIME read from `stream` in chunks, so the raw bytes and a full decoded copy never coexist.

    Large multipart messages take the fast path: the raw bytes are read into one buffer and big leaf
    bodies stay there (decoded in C when stored), never passing through the line-based parser.
    Never raises for malformed or hostile input (only MemoryError could escape); an email over a limit
    comes back with `over_limit` set.
    """
    head = stream.read(limits.max_header_bytes + 3) or b""
    header_end = find_header_end(head, len(head))
    fast = None
    if header_end >= 0 and cap_headers(head, limits.max_header_bytes, limits.max_header_field_bytes) == (
        head,
        [],
    ):
        rest = stream.read(FAST_MIN_MESSAGE) or b""
        if len(head) + len(rest) >= FAST_MIN_MESSAGE and multipart_boundary(head[:header_end]):
            from . import bigparse  # only large messages pay for compiling it

            fast = bigparse
        if fast is not None:
            buf = bytearray(head)
            buf += rest
            del rest
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                buf += chunk
            try:
                parsed = fast.fast_parse(buf, header_end, limits)
            except LimitExceeded as exceeded:
                return ParsedEmail.refused(len(buf), exceeded)
            if parsed is not None:
                return _build(parsed[0], len(buf), [], limits, parsed[1])
            stream = io.BytesIO(buf)
            del buf
        else:
            stream = _Replay(head + rest, stream)
    else:
        stream = _Replay(head, stream)
    try:
        msg, size, defects = parse_message(stream, limits)
    except LimitExceeded as exceeded:
        return ParsedEmail.refused(exceeded.size, exceeded)
    return _build(msg, size, defects, limits, {})


def parse(raw: bytes, limits: InboundLimits | None = None) -> ParsedEmail:
    """Parse raw MIME bytes (see `parse_stream`); default limits unless given."""
    return parse_stream(io.BytesIO(raw), limits or InboundLimits())
