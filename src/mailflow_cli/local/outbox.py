"""Mail sent through SES in the emulator: delivered locally when a receipt rule accepts the recipient,
otherwise kept in the outbox (files under the state directory) for ``mailflow local outbox``.

The emulator reads what moto's SES backend recorded (``ses_backends[account][region].sent_messages``,
an internal moto API; see moto_patches for the version this relies on). The outbox files are the
interface: ``<n>.eml`` holds the MIME and ``<n>.json`` its summary.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from mailflow_cli.local.private_files import private_dir, replace_private, write_private
from mailflow_cli.local.receiving import Receiver
from mailflow_cli.local.ses_event import ReceivedMail

log = logging.getLogger("mailflow.local.outbox")


@dataclass(frozen=True)
class SentMail:
    source: str
    destinations: tuple[str, ...]
    raw: bytes
    ses_message_id: str


@dataclass(frozen=True)
class OutboxEntry:
    number: int
    ses_message_id: str
    sender: str
    recipients: list[str]
    subject: str
    size: int
    time: float


def addresses(values: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for _, found in getaddresses(list(values)):
        address = found.strip().lower()
        if address and address not in seen:
            seen.append(address)
    return seen


def from_moto_message(message: Any) -> SentMail:
    """A moto ``RawMessage`` (send_raw_email) or ``Message`` (send_email) as MIME bytes."""
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
    return SentMail(
        source=sender or source, destinations=tuple(destinations), raw=raw, ses_message_id=str(message.id)
    )


class OutboxStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, mail: SentMail, recipients: Sequence[str]) -> OutboxEntry:
        private_dir(self.directory)
        number = len(list(self.directory.glob("*.json"))) + 1
        headers = BytesHeaderParser(policy=compat32).parsebytes(mail.raw)
        entry = OutboxEntry(
            number=number,
            ses_message_id=mail.ses_message_id,
            sender=mail.source,
            recipients=list(recipients),
            subject=str(headers.get("Subject", "")),
            size=len(mail.raw),
            time=time.time(),
        )
        write_private(self.directory / f"{number}.eml", mail.raw)
        replace_private(self.directory / f"{number}.json", json.dumps(asdict(entry)).encode("utf-8"))
        return entry

    def entries(self) -> list[OutboxEntry]:
        found = []
        for path in self.directory.glob("*.json"):
            try:
                found.append(OutboxEntry(**json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(found, key=lambda entry: entry.number)

    def raw(self, number: int) -> bytes | None:
        path = self.directory / f"{number}.eml"
        return path.read_bytes() if path.is_file() else None


class OutboxWatcher:
    """Takes each new message moto's SES recorded and routes it: local delivery or the outbox."""

    def __init__(
        self,
        *,
        sent_messages: Callable[[], list[Any]],
        receiver: Receiver,
        store: OutboxStore,
        interval: float = 0.1,
    ) -> None:
        self._sent = sent_messages
        self._receiver = receiver
        self._store = store
        self._interval = interval
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def route(self, mail: SentMail) -> None:
        local = [address for address in mail.destinations if self._receiver.accepts(address)]
        remote = [address for address in mail.destinations if address not in local]
        if local:
            received = ReceivedMail(
                raw=mail.raw, mail_from=mail.source, recipients=tuple(local), helo="amazonses.com"
            )
            self._receiver.receive(received, tls=True)
            log.info("delivered %s locally to %s", mail.ses_message_id, ", ".join(local))
        if remote:
            entry = self._store.add(mail, remote)
            log.info("outbox #%d: %s to %s", entry.number, mail.ses_message_id, ", ".join(remote))

    def poll_once(self) -> int:
        messages = self._sent()
        new = messages[self._seen :]
        self._seen = len(messages)
        for message in new:
            try:
                self.route(from_moto_message(message))
            except Exception:
                log.exception("cannot route a message sent through SES")
        return len(new)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self._interval)
