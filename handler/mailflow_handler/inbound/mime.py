"""The byte-level MIME work shared by `parse` and `bigparse`: the top-level header cap, feeding the
compat32 parser under the structure limits, body decoding and boundaries.

The limits on parts and nesting are enforced inside the stdlib parser, before it goes deeper: it attaches
each new part to its parent before parsing it (and its recursion is one level per part), so the guarded
message class refuses the part that would be one too many or one level too deep. The parser therefore
never recurses past `limits.maxDepth`, and never holds more than `limits.maxParts` parts.
"""

from __future__ import annotations

import binascii
from email._policybase import compat32  # not email.policy: that imports headerregistry
from email.feedparser import BytesFeedParser
from email.message import Message
from typing import Any, Protocol

from ..config import InboundLimits

CHUNK = 1 << 20
_NO_TRANSFER_DECODING = frozenset({"", "7bit", "8bit", "binary"})


class Readable(Protocol):
    """A binary stream: io.BytesIO, a file, or botocore's StreamingBody."""

    def read(self, size: int = -1, /) -> bytes: ...


class LimitExceeded(Exception):
    """The email exceeds an inbound limit: it is quarantined with `reason` and not processed further."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.size = 0  # bytes of the email read when the limit was reached


class _Guard:
    """Counts the parts the parser creates and the depth of each, and stops it at the limits."""

    def __init__(self, limits: InboundLimits) -> None:
        self.limits = limits
        self.parts = 1  # the message itself

    def new_message(self, policy: Any = compat32) -> Message:
        message = _GuardedMessage(policy)
        message.guard = self
        return message

    def enter(self, child: Message | str, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise LimitExceeded("too_many_parts", f"more than {self.limits.max_parts} MIME parts")
        if depth > self.limits.max_depth:
            raise LimitExceeded("too_deep", f"MIME nesting deeper than {self.limits.max_depth}")
        if isinstance(child, _GuardedMessage):
            child.depth = depth


class _GuardedMessage(Message):
    guard: _Guard
    depth = 0

    def attach(self, payload: Message | str) -> None:
        # The feed parser attaches a new part to its parent before it parses (and recurses into) it.
        self.guard.enter(payload, self.depth + 1)
        super().attach(payload)


def find_header_end(raw: bytes, limit: int) -> int:
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
    end = find_header_end(raw, max_total + 3)
    if end < 0 and len(raw) <= max_total:
        end = len(raw)
    if end >= 0 and end <= max_field:
        return raw, []
    defects: list[str] = []
    block = raw[: end if end >= 0 else max_total]
    rest = raw[end:] if end >= 0 else raw[skip_to_body(raw, max_total) :]
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


def skip_to_body(raw: bytes, start: int) -> int:
    """Past an oversized header block: the body starts after the first blank line, if any."""
    lf = raw.find(b"\n\n", start)
    crlf = raw.find(b"\n\r\n", start)
    found = [i + 2 for i in (lf,) if i >= 0] + [i + 3 for i in (crlf,) if i >= 0]
    return min(found) if found else len(raw)


class _Counted:
    """`stream`, counting the bytes read from it."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size) or b""
        self.size += len(data)
        return data


def _feed_headers(stream: Readable, limits: InboundLimits) -> tuple[BytesFeedParser, list[str]]:
    """Feed the (capped) top-level header block; an oversized block is skipped up to its blank line."""
    max_total = limits.max_header_bytes
    head = stream.read(max_total + 3)
    capped, defects = cap_headers(head, max_total, limits.max_header_field_bytes)
    parser = BytesFeedParser(_factory=_Guard(limits).new_message, policy=compat32)
    parser.feed(capped)
    if "header_block_truncated" not in defects or find_header_end(head, len(head)) >= 0:
        return parser, defects
    tail = head[-2:]
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return parser, defects
        window = tail + chunk
        end = skip_to_body(window, 0)
        if end < len(window) or window.endswith((b"\n\n", b"\n\r\n")):
            parser.feed(window[end:])
            return parser, defects
        tail = window[-2:]


def parse_message(stream: Readable, limits: InboundLimits) -> tuple[Message, int, list[str]]:
    """The compat32 parse of `stream` (read in chunks) with the top-level header block capped: the
    message, the bytes read and the cap's defects.

    Raises LimitExceeded (with the bytes read so far) as soon as the parser would create one part too
    many or go one level too deep.
    """
    counted = _Counted(stream)
    try:
        parser, defects = _feed_headers(counted, limits)
        while chunk := counted.read(CHUNK):
            parser.feed(chunk)
        return parser.close(), counted.size, defects
    except LimitExceeded as exceeded:
        exceeded.size = counted.size
        raise


def raw_body(part: Message) -> str:
    """A non-multipart part's body as parsed: text with any 8-bit bytes surrogate-escaped. Unlike
    `get_payload()`, which decodes 8-bit text with the part's charset parameter and raises for some
    values (a NUL in it, an RFC 2231 tuple), this never raises."""
    payload = getattr(part, "_payload", "")  # no public accessor returns the parsed payload unchanged
    return payload if isinstance(payload, str) else ""


def decode_body(part: Message, body: memoryview) -> bytes:
    """What `part.get_payload(decode=True)` returns when the part's payload is `body` (raw bytes)."""
    cte = str(part.get("content-transfer-encoding", "")).lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            pass
    elif cte == "quoted-printable":
        return binascii.a2b_qp(body)
    elif cte in _NO_TRANSFER_DECODING:
        return bytes(body)
    # Bad base64 padding, uuencode, unknown encodings: exactly the stdlib's behaviour.
    part.set_payload(bytes(body).decode("ascii", "surrogateescape"))
    try:
        payload = part.get_payload(decode=True)
    finally:
        part.set_payload("")
    return payload if isinstance(payload, bytes) else bytes(body)


def multipart_boundary(header_block: bytes) -> bytes | None:
    """The boundary the feed parser would use for a part with these headers, if it is multipart."""
    parser = BytesFeedParser(policy=compat32)
    parser.feed(header_block)
    try:
        part = parser.close()
        if part.get_content_maintype() != "multipart":
            return None
        boundary = part.get_boundary()
    except Exception:
        return None
    return boundary.encode("ascii", "surrogateescape") if boundary else None
