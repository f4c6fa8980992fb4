"""Inject a message into the emulator's SMTP ingress, optionally with chosen SES verdicts."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from mailflow_cli.errors import MailflowError
from mailflow_cli.local.ses_event import Verdicts
from mailflow_cli.local.smtp_ingress import VERDICTS_HEADER
from mailflow_cli.local.tls import client_context


@dataclass
class SendResult:
    message_id: str
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def envelope_from_headers(raw: bytes) -> tuple[str, list[str]]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    senders = getaddresses([str(v) for v in headers.get_all("From") or []])
    recipients = getaddresses([str(v) for name in ("To", "Cc") for v in headers.get_all(name) or []])
    return (senders[0][1] if senders else ""), [address for _, address in recipients if address]


def crlf(raw: bytes) -> bytes:
    """SMTP lines end in CRLF; .eml files often use bare LF (smtplib converts only str messages)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def with_verdicts(raw: bytes, verdicts: Verdicts | None) -> bytes:
    if verdicts is None:
        return raw
    return f"{VERDICTS_HEADER}: {verdicts.as_header()}\r\n".encode() + raw


def send_message(
    raw: bytes,
    *,
    host: str,
    port: int,
    mail_from: str | None = None,
    recipients: Sequence[str] = (),
    verdicts: Verdicts | None = None,
    starttls: bool = True,
    timeout: float = 30.0,
) -> SendResult:
    header_from, header_to = envelope_from_headers(raw)
    sender = mail_from or header_from
    to = list(recipients) or header_to
    if not to:
        raise MailflowError("the message has no recipient", hint="pass --to ADDRESS (or add a To: header)")
    result = SendResult(message_id="")
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo("localhost")
            if starttls:
                smtp.starttls(context=client_context())
                smtp.ehlo("localhost")
            code, reply = smtp.mail(sender)
            if code != 250:
                raise MailflowError(f"MAIL FROM refused: {code} {reply.decode(errors='replace')}")
            for address in to:
                code, reply = smtp.rcpt(address)
                if code in (250, 251):
                    result.accepted.append(address)
                else:
                    result.refused[address] = f"{code} {reply.decode(errors='replace')}"
            if not result.accepted:
                smtp.rset()
                return result
            code, reply = smtp.data(crlf(with_verdicts(raw, verdicts)))
            text = reply.decode(errors="replace")
            if code != 250:
                raise MailflowError(f"the message was refused: {code} {text}")
            result.message_id = text.split()[-1] if text.split() else ""
    except (OSError, smtplib.SMTPException) as exc:
        raise MailflowError(
            f"cannot deliver to the SMTP ingress at {host}:{port}: {exc}",
            hint="is the emulator running? `mailflow local status`",
        ) from None
    return result
