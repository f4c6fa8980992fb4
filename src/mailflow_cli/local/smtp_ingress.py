"""The SMTP ingress: SES's inbound endpoint on 127.0.0.1, backed by :class:`Receiver`.

Recipients are checked against the active receipt rule set at RCPT time (``550 5.1.1 Mailbox does not
exist`` when no rule matches; a rule with ``TlsPolicy: Require`` refuses a session without STARTTLS).
STARTTLS is offered with a self-signed certificate. A message may carry the header
``X-Mailflow-Local-Verdicts: spam=PASS; virus=FAIL; ...; dmarc-policy=reject`` to choose the verdicts
SES reports for it; the ingress removes that header before storing or delivering the message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from mailflow_cli.local.receiving import Receiver
from mailflow_cli.local.ses_event import ReceivedMail, Verdicts

log = logging.getLogger("mailflow.local.smtp")

VERDICTS_HEADER = "X-Mailflow-Local-Verdicts"
MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SES's receiving limit


def split_control_header(raw: bytes) -> tuple[bytes, Verdicts]:
    """Remove the verdicts header from the message's header block; return the message and the verdicts."""
    lines = raw.splitlines(keepends=True)
    kept: list[bytes] = []
    value: bytes | None = None
    in_control = False
    for index, line in enumerate(lines):
        if line in (b"\r\n", b"\n"):
            kept.extend(lines[index:])
            break
        if line[:1] in (b" ", b"\t"):
            if in_control:
                value = (value or b"") + line
            else:
                kept.append(line)
            continue
        name, sep, rest = line.partition(b":")
        in_control = bool(sep) and name.strip().lower() == VERDICTS_HEADER.lower().encode()
        if in_control:
            value = rest
        else:
            kept.append(line)
    verdicts = Verdicts.from_header(value.decode("utf-8", "replace")) if value is not None else Verdicts()
    return b"".join(kept), verdicts


class IngressHandler:
    """aiosmtpd handler: the blocking AWS calls run in the default executor, off the event loop."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        tls = session.ssl is not None
        loop = asyncio.get_running_loop()
        try:
            refusal = await loop.run_in_executor(
                None, lambda: self.receiver.check_recipient(address, tls=tls)
            )
        except Exception:
            log.exception("cannot read the active receipt rule set")
            return "451 4.3.0 Temporary failure reading the receipt rules"
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        try:
            message, verdicts = split_control_header(raw)
        except ValueError as exc:
            return f"501 5.5.4 {VERDICTS_HEADER}: {exc}"
        peer = session.peer[0] if isinstance(session.peer, tuple) else "127.0.0.1"
        mail = ReceivedMail(
            raw=message,
            mail_from=envelope.mail_from or "",
            recipients=tuple(envelope.rcpt_tos),
            verdicts=verdicts,
            helo=session.host_name or "localhost",
            peer_ip=peer,
        )
        tls = session.ssl is not None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: self.receiver.receive(mail, tls=tls))
        except Exception:
            log.exception("receiving message %s failed", mail.message_id)
            return "451 4.3.0 Temporary failure processing the message"
        log.info("accepted %s from %s for %s", mail.message_id, mail.mail_from, ", ".join(mail.recipients))
        return f"250 Ok {mail.message_id}"


class SmtpIngress:
    def __init__(self, receiver: Receiver, port: int, tls_context: ssl.SSLContext | None) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(
            IngressHandler(receiver),
            hostname="127.0.0.1",
            port=port,
            server_hostname="localhost",
            tls_context=tls_context,
            require_starttls=False,
            data_size_limit=MAX_MESSAGE_BYTES,
            decode_data=False,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
