"""Address header fields (From, To, Cc, Reply-To), written and checked by our own code.

CPython's email policies decode an RFC 2047 encoded word in a display name and, on some patch levels
(gh-121284: 3.11.7, 3.12.1 and 3.13.0 among them), write it back unquoted: a name could then inject
`@`, `<`, `,` and with them other mailboxes. So a display name never reaches the stdlib's header code:
it is written here as atoms, a quoted-string or UTF-8 encoded words, the field is folded here, and the
composed message is parsed back to check that every field holds exactly the intended mailboxes.
"""

from __future__ import annotations

import base64
import re
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from .validate import Mailbox

ADDRESS_FIELDS = ("From", "Sender", "To", "Cc", "Reply-To")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,60}")
_MAX_LINE = 78
_MAX_QUOTED = 60
_WORD_BYTES = 45  # UTF-8 bytes per encoded word: 60 base64 characters, a 72-character word (RFC 2047: 75)


def _encoded_words(text: str) -> list[str]:
    """`text` as `=?utf-8?b?...?=` words, never splitting a character, and after a space where one is
    near: RFC 2047 readers join adjacent words, but `policy.default` shows a space between them."""
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            cut = chunk.rfind(b" ") + 1 or len(chunk)
            chunks.append(chunk[:cut])
            chunk = chunk[cut:]
        chunk += data
    chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks if c]


def phrase(name: str) -> list[str]:
    """The display name as header tokens (folding may go between them): plain atoms when it is made of
    atoms, a quoted-string when it is other printable ASCII, else encoded words. Text that looks like an
    encoded word (`=?`) is always encoded, so no reader decodes what the app wrote as literal text."""
    if "=?" not in name:
        atoms = name.split(" ")
        if all(_ATOM.fullmatch(atom) for atom in atoms):
            return atoms
        if name.isascii() and name.isprintable() and len(name) <= _MAX_QUOTED:
            return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return _encoded_words(name)


def field(name: str, boxes: list[Mailbox]) -> bytes:
    """The header field `name: mailbox, mailbox, ...` with its CRLF, folded at 78 characters where the
    tokens allow (a token is never split; an address longer than a line stays whole)."""
    lines = [f"{name}:"]
    for position, box in enumerate(boxes):
        tokens = [*phrase(box.name), f"<{box.address}>"] if box.name else [box.address]
        if position < len(boxes) - 1:
            tokens[-1] += ","
        for token in tokens:
            if len(lines[-1]) + 1 + len(token) > _MAX_LINE and lines[-1] != f"{name}:":
                lines.append(f" {token}")
            else:
                lines[-1] += f" {token}"
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _visible(name: str) -> str:
    """A display name without its whitespace: readers differ in the whitespace they keep between
    encoded words, never in the rest."""
    return "".join(name.split())


def _decoded(text: str) -> str:
    chunks = decode_header(text)
    return _visible(
        "".join(c.decode(cs or "ascii", "replace") if isinstance(c, bytes) else c for c, cs in chunks)
    )


def _intended(boxes: list[Mailbox]) -> list[tuple[str, str]]:
    return [(_visible(box.name or ""), box.address) for box in boxes]


def mismatches(parsed: Message, intended: dict[str, list[Mailbox]]) -> list[str]:
    """The address fields of `parsed` (the composed message read back) that do not hold exactly the
    intended mailboxes: same addresses, same display names (whitespace aside), same order, same count.
    Read with two independent parsers, the compat32 `getaddresses` and `policy.default`'s."""
    from email.policy import default

    wrong: list[str] = []
    for name in ADDRESS_FIELDS:
        values = [str(v).replace("\r\n", "") for v in parsed.get_all(name) or []]
        want = _intended(intended.get(name, []))
        legacy = [(_decoded(display), address) for display, address in getaddresses(values)] if values else []
        try:
            modern = [
                (_visible(a.display_name), a.addr_spec)
                for value in values
                for a in default.header_factory(name, value).addresses
            ]
        except Exception:
            modern = None
        if legacy != want or modern != want or len(values) > 1:
            wrong.append(name)
    return wrong
