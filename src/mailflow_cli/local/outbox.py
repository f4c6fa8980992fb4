"""Mail sent through SES in the emulator: what SES does with it (the mailbox simulator, the suppression
list, the events it publishes: :mod:`mailflow_cli.local.ses_simulator`), then local delivery when a
receipt rule accepts a recipient, otherwise the outbox (files under the state directory) for
``mailflow local outbox``.

The emulator reads what moto's SES backend recorded (``ses_backends[account][region].sent_messages``,
an internal moto API, through :func:`mailflow_cli.local.moto_ses_send.sent_mail`). The outbox files are
the interface: ``<n>.eml`` holds the MIME and ``<n>.json`` its summary, with each recipient's outcome
and the SES events published about it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, Protocol

from mailflow_cli.local.private_files import private_dir, replace_private, write_private
from mailflow_cli.local.receiving import Receipt
from mailflow_cli.local.sent_mail import SentMail, from_moto_message
from mailflow_cli.local.ses_event import ReceivedMail
from mailflow_cli.local.ses_simulator import SesSimulator, simulator_mailbox

log = logging.getLogger("mailflow.local.outbox")


class LocalDelivery(Protocol):
    """The emulator's SES receiving (:class:`mailflow_cli.local.receiving.Receiver`)."""

    def accepts(self, address: str) -> bool: ...

    def receive(self, mail: ReceivedMail, *, tls: bool) -> Receipt: ...


@dataclass(frozen=True)
class OutboxEntry:
    number: int
    ses_message_id: str
    sender: str
    recipients: list[str]
    subject: str
    size: int
    time: float
    outcomes: dict[str, str] = field(default_factory=dict)
    """Each recipient's outcome (delivered, bounced, complained about, suppressed, rejected)."""
    configuration_set: str | None = None
    events: list[str] = field(default_factory=list)
    """The SES event types published about the message (Send, Delivery, Bounce, Complaint, Reject)."""


class OutboxStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, mail: SentMail, outcomes: Mapping[str, str], events: Sequence[str] = ()) -> OutboxEntry:
        """Keep ``mail`` for the recipients in ``outcomes`` (recipient -> what happened to it)."""
        private_dir(self.directory)
        number = len(list(self.directory.glob("*.json"))) + 1
        headers = BytesHeaderParser(policy=compat32).parsebytes(mail.raw)
        entry = OutboxEntry(
            number=number,
            ses_message_id=mail.ses_message_id,
            sender=mail.source,
            recipients=list(outcomes),
            subject=str(headers.get("Subject", "")),
            size=len(mail.raw),
            time=time.time(),
            outcomes=dict(outcomes),
            configuration_set=mail.configuration_set,
            events=list(events),
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

    def count(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))

    def raw(self, number: int) -> bytes | None:
        path = self.directory / f"{number}.eml"
        return path.read_bytes() if path.is_file() else None


class OutboxWatcher:
    """Takes each new message moto's SES recorded and does what SES would: simulate its recipients'
    fates, deliver locally or keep it in the outbox, publish the events."""

    def __init__(
        self,
        *,
        sent_messages: Callable[[], list[Any]],
        receiver: LocalDelivery,
        store: OutboxStore,
        simulator: SesSimulator,
        interval: float = 0.1,
    ) -> None:
        self._sent = sent_messages
        self._receiver = receiver
        self._store = store
        self._simulator = simulator
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
        simulation = self._simulator.simulate(mail)
        local = [
            address
            for address, fate in simulation.fates.items()
            if fate.delivered and simulator_mailbox(address) is None and self._receiver.accepts(address)
        ]
        if local:
            received = ReceivedMail(
                raw=mail.raw, mail_from=mail.source, recipients=tuple(local), helo="amazonses.com"
            )
            self._receiver.receive(received, tls=True)
            log.info("delivered %s locally to %s", mail.ses_message_id, ", ".join(local))
        events = self._simulator.publish(mail, simulation)
        kept = {address: fate.value for address, fate in simulation.fates.items() if address not in local}
        if kept:
            entry = self._store.add(mail, kept, events)
            log.info("outbox #%d: %s to %s", entry.number, mail.ses_message_id, ", ".join(kept))

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
