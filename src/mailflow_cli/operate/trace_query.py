"""What ``mailflow trace QUERY`` looks for, and how each log source is asked for it.

QUERY may be an RFC 5322 Message-ID (with or without ``<>``), an SES message id, an outbound
correlationId or an email address; one search covers all four, since an id's form does not say which
it is (a Message-ID looks like an address). A log line matches when one of its fields equals QUERY
(``sesMessageId``, ``correlationId``), its ``messageId`` equals QUERY without ``<>``, or its
``addressHashes`` holds QUERY's keyed hash (contract L). The server narrows with a pattern or a query;
:meth:`TraceQuery.matches` decides, so a source that narrows less (or not at all) gives the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailflow_cli.errors import UsageError

# The log lines trace reads: one per email, outbound request and feedback event (contract L).
INBOUND_LINE = "inbound email"
OUTBOUND_LINE = "outbound email"
EVENT_LINE = "outbound event"
TRACE_LINES = (INBOUND_LINE, OUTBOUND_LINE, EVENT_LINE)

MAX_QUERY_CHARS = 998  # RFC 5322's line limit: no id or address is longer
# Quotes, backslashes, whitespace and controls could not be put in a filter pattern or a Logs Insights
# string as they are, and no id or bare address contains them.
_UNSEARCHABLE = re.compile(r"[\"'\\`\s\x00-\x1f\x7f]")
_ADDRESS = re.compile(r"[^@<>]+@[^@<>]+")


@dataclass(frozen=True)
class TraceQuery:
    text: str
    bare: str  # without the <> of a Message-ID
    address_hash: str | None  # None when QUERY is no address, or no hash key exists yet

    @property
    def terms(self) -> tuple[str, ...]:
        """The literal strings a matching line contains, each at most once."""
        found = [self.text, self.bare] + ([self.address_hash] if self.address_hash else [])
        return tuple(dict.fromkeys(found))

    def matches(self, record: dict[str, Any]) -> bool:
        if record.get("message") not in TRACE_LINES:
            return False
        if self.text in (record.get("sesMessageId"), record.get("correlationId")):
            return True
        if record.get("messageId") == self.bare:
            return True
        hashes = record.get("addressHashes")
        return bool(self.address_hash and isinstance(hashes, str) and self.address_hash in hashes.split())

    def filter_pattern(self) -> str:
        """A FilterLogEvents pattern: any of the terms (``?"a" ?"b"``; one term on its own)."""
        terms = self.terms
        if len(terms) == 1:
            return f'"{terms[0]}"'
        return " ".join(f'?"{term}"' for term in terms)

    def insights_query(self, limit: int) -> str:
        """A Logs Insights query for the matching lines, oldest first."""
        lines = ", ".join(f'"{line}"' for line in TRACE_LINES)
        conditions = [
            f'sesMessageId = "{self.text}"',
            f'correlationId = "{self.text}"',
            f'messageId = "{self.bare}"',
        ]
        if self.address_hash:
            conditions.append(f"addressHashes like /{self.address_hash}/")
        return (
            "fields @timestamp, @message"
            f" | filter message in [{lines}]"
            f" | filter {' or '.join(conditions)}"
            f" | sort @timestamp asc | limit {limit}"
        )


def looks_like_address(text: str) -> bool:
    return _ADDRESS.fullmatch(text) is not None


def parse_query(text: str) -> str:
    """QUERY as given, once it is something trace can search for; a UsageError (exit 2) otherwise."""
    query = text.strip()
    if not query:
        raise UsageError(
            "QUERY is empty",
            hint="pass a Message-ID, an SES message id, a correlationId or an email address",
        )
    if len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"QUERY is {len(query)} characters long; ids and addresses have at most 998")
    bad = _UNSEARCHABLE.search(query)
    if bad is not None:
        raise UsageError(
            f"QUERY contains {bad.group()!r}, which no Message-ID, SES id, correlationId or bare address "
            "contains",
            hint="pass the id or the address alone, e.g. alice@example.com rather than "
            "'Alice <alice@example.com>'",
        )
    return query


def build_query(text: str, hash_of: Any) -> TraceQuery:
    """``hash_of(address)``: the keyed hash, or None when there is no key yet (called only for an
    address-like QUERY)."""
    query = parse_query(text)
    bare = query[1:-1] if query.startswith("<") and query.endswith(">") and len(query) > 2 else query
    digest = hash_of(bare) if looks_like_address(bare) else None
    return TraceQuery(text=query, bare=bare, address_hash=digest)
