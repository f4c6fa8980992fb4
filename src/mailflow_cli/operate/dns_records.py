"""The DNS records a domain needs for SES: verification, inbound MX, Easy DKIM and a recommended DMARC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailflow_cli.config import DOMAIN_LABEL
from mailflow_cli.errors import UsageError

RecordPurpose = Literal["verification", "inbound", "dkim", "dmarc"]
MX_PRIORITY = 10
TTL_SECONDS = 300


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    value: str
    purpose: RecordPurpose
    priority: int | None = None

    @property
    def rdata(self) -> str:
        """The value as it appears in a zone file (what Route 53 stores)."""
        if self.type == "TXT":
            return f'"{self.value}"'
        if self.type == "MX":
            return f"{self.priority} {self.value}"
        return self.value

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "value": self.value,
            "priority": self.priority,
            "purpose": self.purpose,
        }


def normalise_domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise UsageError(f"{text!r} is not a domain name", hint="for example: example.com")
    return domain


def inbound_mx_host(region: str) -> str:
    return f"inbound-smtp.{region}.amazonaws.com"


def required_records(
    domain: str,
    region: str,
    verification_token: str,
    dkim_tokens: list[str],
    dmarc_report_address: str | None = None,
) -> list[DnsRecord]:
    report_to = dmarc_report_address or f"dmarc-reports@{domain}"
    return [
        DnsRecord(f"_amazonses.{domain}", "TXT", verification_token, "verification"),
        DnsRecord(domain, "MX", inbound_mx_host(region), "inbound", MX_PRIORITY),
        *(
            DnsRecord(f"{token}._domainkey.{domain}", "CNAME", f"{token}.dkim.amazonses.com", "dkim")
            for token in dkim_tokens
        ),
        DnsRecord(f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=quarantine; rua=mailto:{report_to}", "dmarc"),
    ]
