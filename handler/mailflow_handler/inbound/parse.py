"""Defensive MIME parsing: compat32 only, bounded header work, no exception escapes `parse()`.

CPython's `policy.default` raises on real mail and is super-linear on huge headers, so it is never
used here; addresses go through `email.utils.getaddresses` and words through `email.header.decode_header`.
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
from typing import Any, Protocol

MAX_DEPTH = 64
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSGID = re.compile(r"<([^<>]*)>")
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_PARAM_HEADERS = frozenset({"content-type", "content-disposition"})
# A content type that is safe as an HTTP header value (S3 ContentType) and in JSON consumers.
_SAFE_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
CHUNK = 1 << 20
# Messages of at least this size take the large-body fast path (`bigparse.py`, imported only then).
FAST_MIN_MESSAGE = 1 << 20


class Readable(Protocol):
    """A binary stream: io.BytesIO, a file, or botocore's StreamingBody."""

    def read(self, size: int = -1, /) -> bytes: ...


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
    # with `bigparse.decode_body`. None: the body is the part's payload.
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
        except LookupError:
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


def _find_header_end(raw: bytes, limit: int) -> int:
    """Index just past the blank line ending the top-level header block, or -1 if not within `limit`."""
    window = raw[:limit] if len(raw) > limit else raw
    if window.startswith((b"\n", b"\r\n")):
        return 2 if window.startswith(b"\r\n") else 1
    lf = window.find(b"\n\n")
    crlf = window.find(b"\n\r\n")
    candidates = [i + 2 for i in (lf,) if i >= 0] + [i + 3 for i in (crlf,) if i >= 0]
    return min(candidates) if candidates else -1


def cap_headers(raw: bytes, max_total: int, max_field: int) -> tuple[bytes, list[str]]:
    """Bound the top-level header block so later header work stays cheap; returns the (maybe new) bytes."""
    end = _find_header_end(raw, max_total + 3)
    if end < 0 and len(raw) <= max_total:
        end = len(raw)
    if end >= 0 and end <= max_field:
        return raw, []
    defects: list[str] = []
    block = raw[: end if end >= 0 else max_total]
    rest = raw[end:] if end >= 0 else raw[_skip_to_body(raw, max_total) :]
    if end < 0:
        defects.append("header_block_truncated")
    fields: list[list[bytes]] = []
    for line in block.splitlines(keepends=True):
        if line in (b"\n", b"\r\n"):
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept: list[bytes] = []
    total = 0
    for position, parts in enumerate(fields):
        data = b"".join(parts)
        if len(data) > max_field or (end < 0 and position == len(fields) - 1):
            name = data.split(b":", 1)[0][:64].decode("ascii", "replace").strip()
            defects.append(f"header_field_truncated:{name}")
            data = data[:max_field].rstrip(b"\r\n") + b"\r\n"
        if not data.endswith(b"\n"):
            data += b"\r\n"
        if total + len(data) > max_total:
            if "header_block_truncated" not in defects:
                defects.append("header_block_truncated")
            break
        kept.append(data)
        total += len(data)
    if not defects:
        return raw, []
    return b"".join(kept) + b"\r\n" + rest, defects


def _skip_to_body(raw: bytes, start: int) -> int:
    """Past an oversized header block: the body starts after the first blank line, if any."""
    lf = raw.find(b"\n\n", start)
    crlf = raw.find(b"\n\r\n", start)
    found = [i + 2 for i in (lf,) if i >= 0] + [i + 3 for i in (crlf,) if i >= 0]
    return min(found) if found else len(raw)


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
        from .bigparse import decode_body

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


def _walk(msg: Message, email: ParsedEmail, max_field: int, big: dict[int, memoryview]) -> None:
    defects = email.defects
    stack: list[tuple[Message, int, bool]] = [(msg, 0, False)]
    while stack:
        part, depth, embedded = stack.pop()
        content_type, params_ok = _safe_type(part, max_field, defects)
        for defect in part.defects:
            defects.append(type(defect).__name__)
        payload = part.get_payload()
        if isinstance(payload, list):
            if depth >= MAX_DEPTH:
                defects.append("max_depth_exceeded")
                continue
            if content_type in ("message/rfc822", "message/global") and payload:
                inner = payload[0]
                if isinstance(inner, Message):
                    email.embedded_messages.append(_summary(inner))
                    stack.append((inner, depth + 1, True))
                continue
            if content_type.startswith("message/"):
                email.attachments.append(
                    AttachmentPart(part, content_type, None, None, "attachment", embedded)
                )
                continue
            stack.extend(
                (child, depth + 1, embedded) for child in reversed(payload) if isinstance(child, Message)
            )
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


def _summary(inner: Message) -> dict[str, Any]:
    _, by_name = _header_map(inner)
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


def _feed_headers(stream: Readable, max_total: int, max_field: int) -> tuple[BytesFeedParser, int, list[str]]:
    """Feed the (capped) top-level header block; an oversized block is skipped up to its blank line."""
    head = stream.read(max_total + 3) or b""
    size = len(head)
    capped, defects = cap_headers(head, max_total, max_field)
    parser = BytesFeedParser(policy=compat32)
    parser.feed(capped)
    if "header_block_truncated" not in defects or _find_header_end(head, len(head)) >= 0:
        return parser, size, defects
    tail = head[-2:]
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return parser, size, defects
        size += len(chunk)
        window = tail + chunk
        end = _skip_to_body(window, 0)
        if end < len(window) or window.endswith((b"\n\n", b"\n\r\n")):
            parser.feed(window[end:])
            return parser, size, defects
        tail = window[-2:]


def _parse_message(stream: Readable, max_total: int, max_field: int) -> tuple[Message, int, list[str]]:
    parser, size, defects = _feed_headers(stream, max_total, max_field)
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        parser.feed(chunk)
    return parser.close(), size, defects


def _build(
    msg: Message, size: int, defects: list[str], max_field: int, big: dict[int, memoryview]
) -> ParsedEmail:
    ordered, by_name = _header_map(msg)
    subject = _first(by_name, "subject")
    date = _first(by_name, "date")
    in_reply_to = _msg_ids(_first(by_name, "in-reply-to"))
    from_list = _addresses(by_name.get("from", []), defects, "from")
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
    _walk(msg, email, max_field, big)
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


def parse_stream(stream: Readable, max_header_bytes: int, max_header_field_bytes: int) -> ParsedEmail:
    """Parse MIME read from `stream` in chunks, so the raw bytes and a full decoded copy never coexist.

    Large multipart messages take the fast path: the raw bytes are read into one buffer and big leaf
    bodies stay there (decoded in C when stored), never passing through the line-based parser.
    Never raises for malformed input (only resource limits such as MemoryError can escape).
    """
    head = stream.read(max_header_bytes + 3) or b""
    header_end = _find_header_end(head, len(head))
    fast = None
    if header_end >= 0 and cap_headers(head, max_header_bytes, max_header_field_bytes) == (head, []):
        rest = stream.read(FAST_MIN_MESSAGE) or b""
        if len(head) + len(rest) >= FAST_MIN_MESSAGE:
            from . import bigparse  # only large messages pay for compiling it

            fast = bigparse if bigparse.multipart_boundary(head[:header_end]) else None
        if fast is not None:
            buf = bytearray(head)
            buf += rest
            del rest
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                buf += chunk
            parsed = fast.fast_parse(buf, header_end, max_header_bytes, max_header_field_bytes)
            if parsed is not None:
                return _build(parsed[0], len(buf), [], max_header_field_bytes, parsed[1])
            stream = io.BytesIO(buf)
            del buf
        else:
            stream = _Replay(head + rest, stream)
    else:
        stream = _Replay(head, stream)
    msg, size, defects = _parse_message(stream, max_header_bytes, max_header_field_bytes)
    return _build(msg, size, defects, max_header_field_bytes, {})


def parse(raw: bytes, max_header_bytes: int, max_header_field_bytes: int) -> ParsedEmail:
    """Parse raw MIME bytes (see `parse_stream`)."""
    return parse_stream(io.BytesIO(raw), max_header_bytes, max_header_field_bytes)
