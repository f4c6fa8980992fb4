"""The large-body fast path of `parse.parse_stream`, imported only for messages of at least
`parse.FAST_MIN_MESSAGE` bytes: big leaf bodies stay in the raw bytes and are decoded in C, never going
through the line-based feed parser (which walks a 29 MB base64 attachment as ~540,000 Python lines)."""

from __future__ import annotations

import io
import itertools
import secrets
from email._policybase import compat32
from email.feedparser import BytesFeedParser
from email.message import Message

from ..config import InboundLimits
from .mime import multipart_boundary, parse_message, raw_body

FAST_MIN_BODY = 256 * 1024  # leaf bodies at least this big are kept out of the parser (tests lower it)
_PART_HEADER_LIMIT = 64 * 1024


def _leaf_type(header_block: bytes) -> str | None:
    parser = BytesFeedParser(policy=compat32)
    parser.feed(header_block)
    try:
        return parser.close().get_content_maintype()
    except Exception:
        return None


def _boundary_line_end(buf: bytearray, start: int, delimiter: bytes) -> tuple[int, bool] | None:
    """If a boundary line (`--b`, optional `--`, blanks, line end) starts at `start`: (index past the
    line's end, closing?). The feed parser's boundary regex, on bytes."""
    if not buf.startswith(delimiter, start):
        return None
    i = start + len(delimiter)
    closing = buf.startswith(b"--", i)
    if closing:
        i += 2
    n = len(buf)
    while i < n and buf[i] in (0x20, 0x09):
        i += 1
    if i == n:
        return i, closing
    if buf[i] == 0x0D:
        return (i + 2 if buf.startswith(b"\r\n", i) else i + 1), closing
    if buf[i] == 0x0A:
        return i + 1, closing
    return None


Span = tuple[int, int, tuple[tuple[int, bytes], ...]]


def _scan(
    buf: bytearray,
    start: int,
    end: int,
    boundary: bytes,
    *,
    path: tuple[tuple[int, bytes], ...],
    out: list[Span],
    limits: InboundLimits,
) -> None:
    """Collect big leaf bodies of the multipart body buf[start:end]: (body start, body end, path), where
    path lists (child index, parent boundary) from the root. Anything unclear is simply not collected;
    so is anything past the part and depth limits (the parse of the skeleton then refuses the email)."""
    if len(path) >= limits.max_depth:
        return
    delimiter = b"--" + boundary
    lines: list[tuple[int, int, bool]] = []  # (line start, index past the line, closing)
    at = _boundary_line_end(buf, start, delimiter)
    if at is not None:
        lines.append((start, at[0], at[1]))
    search = start
    while not (lines and lines[-1][2]):
        found = buf.find(b"\n" + delimiter, search, end)
        if found < 0:
            break
        at = _boundary_line_end(buf, found + 1, delimiter)
        if at is not None:
            lines.append((found + 1, at[0], at[1]))
            if len(lines) > limits.max_parts:
                return
        search = found + 1
    for index, ((_, part_start, closing), (next_line, _, _)) in enumerate(itertools.pairwise(lines)):
        if closing:
            return
        part_end = next_line - 1  # the LF before the next boundary line belongs to the boundary
        if part_end > part_start and buf[part_end - 1] == 0x0D:
            part_end -= 1
        if part_end - part_start < FAST_MIN_BODY:
            continue
        if buf.startswith((b"\r\n", b"\n"), part_start):
            body_start = part_start + (2 if buf[part_start] == 0x0D else 1)
        else:
            limit = min(part_end, part_start + _PART_HEADER_LIMIT)
            ends = [i + 2 for i in (buf.find(b"\n\n", part_start, limit),) if i >= 0]
            ends += [i + 3 for i in (buf.find(b"\n\r\n", part_start, limit),) if i >= 0]
            if not ends:
                continue
            body_start = min(ends)
        if part_end - body_start < FAST_MIN_BODY:
            continue
        headers = bytes(buf[part_start:body_start])
        here = (*path, (index, boundary))
        inner = multipart_boundary(headers)
        if inner is not None:
            _scan(buf, body_start, part_end, inner, path=here, out=out, limits=limits)
            continue
        if _leaf_type(headers) in (None, "multipart", "message"):
            continue
        if (
            buf.startswith(b"--", body_start)
            or buf.find(b"\n--", body_start, part_end) >= 0
            or buf.find(b"\r--", body_start, part_end) >= 0
        ):
            continue
        out.append((body_start, part_end, here))


def fast_parse(
    buf: bytearray, header_end: int, limits: InboundLimits
) -> tuple[Message, dict[int, memoryview]] | None:
    """Parse with big leaf bodies replaced by unique one-line placeholders, then put the real bodies
    back as views into `buf`. None when nothing was replaced or the parse tree does not show every
    placeholder exactly where the scan expected it (the caller then parses the real bytes). Raises
    LimitExceeded like `mime.parse_message` (the skeleton has the real bytes' structure).

    Sound because a placeholder's line and the body's lines are read the same way by the feed parser
    when the body has no line starting with "--" (checked): they are plain body lines of that part.
    """
    boundary = multipart_boundary(bytes(buf[:header_end]))
    if boundary is None:
        return None
    spans: list[Span] = []
    _scan(buf, header_end, len(buf), boundary, path=(), out=spans, limits=limits)
    if not spans:
        return None
    token = secrets.token_hex(16)
    pieces: list[bytes] = []
    previous = 0
    for number, (body_start, body_end, _) in enumerate(spans):
        pieces.append(bytes(buf[previous:body_start]))
        pieces.append(f"mailflowbody{token}x{number}".encode("ascii"))
        previous = body_end
    pieces.append(bytes(buf[previous:]))
    skeleton = b"".join(pieces)
    del pieces
    msg, _, defects = parse_message(io.BytesIO(skeleton), limits)
    if defects:
        return None
    del skeleton
    view = memoryview(buf)
    big: dict[int, memoryview] = {}
    for number, (body_start, body_end, path) in enumerate(spans):
        node: Message = msg
        for index, parent_boundary in path:
            if node.get_content_maintype() != "multipart" or node.get_boundary() != parent_boundary.decode(
                "ascii", "surrogateescape"
            ):
                return None
            children = node.get_payload() if node.is_multipart() else None
            child = children[index] if isinstance(children, list) and index < len(children) else None
            if not isinstance(child, Message):
                return None
            node = child
        if (
            node.is_multipart()
            or node.get_content_maintype() in ("multipart", "message")
            or raw_body(node) != f"mailflowbody{token}x{number}"
            or id(node) in big
        ):
            return None
        big[id(node)] = view[body_start:body_end]
    return msg, big
