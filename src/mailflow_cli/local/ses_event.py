"""What SES produces for a received message: its id, the headers it prepends, and the Lambda event."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, getaddresses
from typing import Any

VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_STATUSES = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_message_id() -> str:
    """SES message ids are 40 lowercase letters and digits (for example ``o3vrnil0e2ic...``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(40))


@dataclass(frozen=True)
class Verdicts:
    spam: str = "PASS"
    virus: str = "PASS"
    spf: str = "PASS"
    dkim: str = "PASS"
    dmarc: str = "PASS"
    dmarc_policy: str | None = None

    @classmethod
    def parse(cls, items: Sequence[str], dmarc_policy: str | None = None) -> Verdicts:
        """``["virus=FAIL", "spam=GRAY"]`` -> Verdicts; raise ValueError naming a bad item."""
        values: dict[str, str] = {}
        for item in items:
            name, sep, status = item.partition("=")
            name, status = name.strip().lower(), status.strip().upper()
            if not sep or name not in VERDICT_NAMES or status not in VERDICT_STATUSES:
                raise ValueError(
                    f"{item!r}: expected NAME=STATUS with NAME one of {', '.join(VERDICT_NAMES)} "
                    f"and STATUS one of {', '.join(VERDICT_STATUSES)}"
                )
            values[name] = status
        policy = dmarc_policy.strip().lower() if dmarc_policy else None
        if policy is not None and policy not in {"none", "quarantine", "reject"}:
            raise ValueError(f"{dmarc_policy!r}: the DMARC policy is one of none, quarantine, reject")
        return cls(**values, dmarc_policy=policy)

    def as_header(self) -> str:
        parts = [f"{name}={getattr(self, name)}" for name in VERDICT_NAMES]
        if self.dmarc_policy:
            parts.append(f"dmarc-policy={self.dmarc_policy}")
        return "; ".join(parts)

    @classmethod
    def from_header(cls, value: str) -> Verdicts:
        items = [part.strip() for part in value.split(";") if part.strip()]
        policy = next((i.partition("=")[2] for i in items if i.lower().startswith("dmarc-policy=")), None)
        return cls.parse([i for i in items if not i.lower().startswith("dmarc-policy=")], policy)


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP ingress accepted it."""

    raw: bytes
    mail_from: str
    recipients: tuple[str, ...]
    verdicts: Verdicts = Verdicts()
    helo: str = "localhost"
    peer_ip: str = "127.0.0.1"
    message_id: str = field(default_factory=new_message_id)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def iso_timestamp(moment: datetime) -> str:
    """SES's timestamps: ISO 8601 in UTC with milliseconds (``2017-08-05T00:41:02.669Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def prepended_headers(mail: ReceivedMail, region: str) -> list[tuple[str, str]]:
    """The headers SES adds at the top of the stored message (and of ``mail.headers``)."""
    verdicts = mail.verdicts
    sender_domain = mail.mail_from.rpartition("@")[2] or mail.helo
    header_from = _header_from_domain(mail.raw) or sender_domain
    spf = verdicts.spf.lower()
    rcpt = mail.recipients[0] if mail.recipients else ""
    return [
        ("Return-Path", f"<{mail.mail_from}>"),
        (
            "Received",
            f"from {mail.helo} ({mail.helo} [{mail.peer_ip}]) by inbound-smtp.{region}.amazonaws.com "
            f"with SMTP id {mail.message_id} for {rcpt}; {format_datetime(mail.received_at)}",
        ),
        ("X-SES-Spam-Verdict", verdicts.spam),
        ("X-SES-Virus-Verdict", verdicts.virus),
        (
            "Received-SPF",
            f"{spf} (spfCheck: domain of {sender_domain} designates {mail.peer_ip} as permitted sender) "
            f"client-ip={mail.peer_ip}; envelope-from={mail.mail_from}; helo={mail.helo};",
        ),
        (
            "Authentication-Results",
            f"amazonses.com; spf={spf} (spfCheck: domain of {sender_domain} designates {mail.peer_ip} as "
            f"permitted sender) client-ip={mail.peer_ip}; envelope-from={mail.mail_from}; helo={mail.helo}; "
            f"dkim={verdicts.dkim.lower()} header.i=@{header_from}; "
            f"dmarc={verdicts.dmarc.lower()} header.from={header_from};",
        ),
    ]


def stored_message(mail: ReceivedMail, region: str) -> bytes:
    """The object SES's S3 action writes: its headers, then the message exactly as received."""
    head = "".join(f"{name}: {value}\r\n" for name, value in prepended_headers(mail, region))
    return head.encode("utf-8") + mail.raw


def _parse_headers(raw: bytes) -> Any:
    return BytesHeaderParser(policy=compat32).parsebytes(raw)


def _header_from_domain(raw: bytes) -> str | None:
    addresses = getaddresses([str(v) for v in (_parse_headers(raw).get_all("From") or [])])
    return next((addr.rpartition("@")[2].lower() for _, addr in addresses if "@" in addr), None)


def _addresses(message: Any, name: str) -> list[str] | None:
    values = message.get_all(name)
    if not values:
        return None
    return [str(value).strip() for value in values for value in str(value).split(",") if value.strip()]


def header_objects(raw: bytes) -> list[dict[str, str]]:
    """A message's headers as SES lists them in ``mail.headers``, in order."""
    return [{"name": str(n), "value": str(v)} for n, v in _parse_headers(raw).items()]


def common_headers(mail: ReceivedMail) -> dict[str, Any]:
    return {"returnPath": mail.mail_from, **message_common_headers(mail.raw)}


def message_common_headers(raw: bytes) -> dict[str, Any]:
    """SES's ``mail.commonHeaders`` of a message: the ones it has, addresses as lists."""
    message = _parse_headers(raw)
    common: dict[str, Any] = {}
    for key, header in (("from", "From"), ("to", "To"), ("cc", "Cc"), ("bcc", "Bcc"), ("sender", "Sender")):
        values = _addresses(message, header)
        if values is not None:
            common[key] = values
    for key, header in (("date", "Date"), ("messageId", "Message-ID"), ("subject", "Subject")):
        value = message.get(header)
        if value is not None:
            common[key] = str(value)
    return common


def mail_object(mail: ReceivedMail, region: str) -> dict[str, Any]:
    headers = [{"name": n, "value": v} for n, v in prepended_headers(mail, region)]
    headers += header_objects(mail.raw)
    return {
        "timestamp": iso_timestamp(mail.received_at),
        "source": mail.mail_from,
        "messageId": mail.message_id,
        "destination": list(mail.recipients),
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": common_headers(mail),
    }


def receipt_object(
    mail: ReceivedMail,
    recipients: Sequence[str],
    action: Mapping[str, Any],
    processing_millis: int,
) -> dict[str, Any]:
    verdicts = mail.verdicts
    receipt: dict[str, Any] = {
        "timestamp": iso_timestamp(mail.received_at),
        "processingTimeMillis": processing_millis,
        "recipients": list(recipients),
        "spamVerdict": {"status": verdicts.spam},
        "virusVerdict": {"status": verdicts.virus},
        "spfVerdict": {"status": verdicts.spf},
        "dkimVerdict": {"status": verdicts.dkim},
        "dmarcVerdict": {"status": verdicts.dmarc},
        "action": dict(action),
    }
    if verdicts.dmarc == "FAIL" and verdicts.dmarc_policy:
        receipt["dmarcPolicy"] = verdicts.dmarc_policy.upper()
    return receipt


def lambda_event(
    mail: ReceivedMail,
    region: str,
    recipients: Sequence[str],
    function_arn: str,
    invocation_type: str = "Event",
) -> dict[str, Any]:
    """The event SES passes to a LambdaAction: one record with ``mail`` and ``receipt``."""
    elapsed = datetime.now(UTC) - mail.received_at
    action = {"type": "Lambda", "functionArn": function_arn, "invocationType": invocation_type}
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": mail_object(mail, region),
                    "receipt": receipt_object(
                        mail, recipients, action, max(0, int(elapsed.total_seconds() * 1000))
                    ),
                },
            }
        ]
    }
