"""One message sent through SES in the emulator, read from moto's record of it (see moto_ses_send)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from mailflow_cli.local.moto_ses_send import send_options


@dataclass(frozen=True)
class SentMail:
    source: str
    """The envelope sender's address."""
    destinations: tuple[str, ...]
    """The recipients, lowercased, each once."""
    raw: bytes
    ses_message_id: str
    named_source: str = ""
    """The sender as the request named it (``FromEmailAddress``/``Source``, maybe with a display name)."""
    configuration_set: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def addresses(values: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for _, found in getaddresses(list(values)):
        address = found.strip().lower()
        if address and address not in seen:
            seen.append(address)
    return seen


def from_moto_message(message: Any) -> SentMail:
    """A moto ``RawMessage`` (raw content) or ``Message`` (simple content) as MIME bytes, with the
    configuration set, tags and recipients the request named."""
    source = str(getattr(message, "source", "") or "")
    raw_data = getattr(message, "raw_data", None)
    if raw_data is not None:
        raw = raw_data.encode("utf-8") if isinstance(raw_data, str) else bytes(raw_data)
        destinations = addresses([str(d) for d in message.destinations])
    else:
        destinations_map = getattr(message, "destinations", {}) or {}
        destinations = addresses(
            [
                str(a)
                for key in ("ToAddresses", "CcAddresses", "BccAddresses")
                for a in destinations_map.get(key, [])
            ]
        )
        built = EmailMessage()
        built["From"] = source
        built["To"] = ", ".join(destinations_map.get("ToAddresses", []))
        built["Subject"] = str(getattr(message, "subject", "") or "")
        built.set_content(str(getattr(message, "body", "") or ""))
        raw = built.as_bytes()
    _, sender = getaddresses([source])[0] if source else ("", "")
    mail = SentMail(
        source=sender or source,
        destinations=tuple(destinations),
        raw=raw,
        ses_message_id=str(message.id),
        named_source=source,
    )
    options = send_options(message)
    if options is None:
        return mail
    named = options.destinations
    return replace(
        mail,
        destinations=tuple(addresses(list(named))) if named is not None else mail.destinations,
        configuration_set=options.configuration_set,
        tags=options.tags,
        sent_at=options.sent_at,
    )
