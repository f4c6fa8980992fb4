"""Security verdicts from the SES event (never from headers inside the message) and the delivery policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from .route import Route

KNOWN_STATUSES = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
UNKNOWN = "UNKNOWN"


def _status(receipt: dict[str, Any], key: str) -> str:
    verdict = receipt.get(key)
    status = verdict.get("status") if isinstance(verdict, dict) else None
    if isinstance(status, str) and status.upper() in KNOWN_STATUSES:
        return status.upper()
    return UNKNOWN


@dataclass
class Security:
    spam: str
    virus: str
    spf: str
    dkim: str
    dmarc: str
    dmarc_policy: str | None
    flags: list[str] = field(default_factory=list)

    @classmethod
    def from_receipt(cls, receipt: dict[str, Any]) -> Security:
        policy = receipt.get("dmarcPolicy")
        return cls(
            spam=_status(receipt, "spamVerdict"),
            virus=_status(receipt, "virusVerdict"),
            spf=_status(receipt, "spfVerdict"),
            dkim=_status(receipt, "dkimVerdict"),
            dmarc=_status(receipt, "dmarcVerdict"),
            dmarc_policy=policy.lower() if isinstance(policy, str) and policy else None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "spamVerdict": self.spam,
            "virusVerdict": self.virus,
            "spfVerdict": self.spf,
            "dkimVerdict": self.dkim,
            "dmarcVerdict": self.dmarc,
            "dmarcPolicy": self.dmarc_policy,
            "flagged": bool(self.flags),
            "flags": list(self.flags),
        }


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class Decision:
    deliver: list[Route]
    quarantine: list[tuple[Route, str]]
    security: Security


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def decide(routes: list[Route], receipt: dict[str, Any], mail_from: str, config: Config) -> Decision:
    """Split routes into delivered and quarantined ones. Virus != PASS quarantines everything."""
    security = Security.from_receipt(receipt)
    reasons: list[str] = []
    if security.virus != "PASS":
        reasons.append(f"virus_{security.virus.lower()}")
    if security.spam == "FAIL":
        if config.spam_fail == "quarantine":
            reasons.append("spam_fail")
        else:
            security.flags.append("spam_fail")
    if security.dmarc == "FAIL" and security.dmarc_policy == "reject":
        if config.dmarc_reject == "quarantine":
            reasons.append("dmarc_reject")
        else:
            security.flags.append("dmarc_reject")
    if reasons:
        reason = ",".join(reasons)
        return Decision(deliver=[], quarantine=[(r, reason) for r in routes], security=security)
    deliver: list[Route] = []
    quarantine: list[tuple[Route, str]] = []
    sender_domain = _domain(mail_from) if "@" in mail_from else ""
    for r in routes:
        app = config.apps.get(r.app) if not r.is_default else None
        allowed = app.allowed_sender_domains if app else frozenset()
        if allowed and sender_domain not in allowed:
            quarantine.append((r, "sender_not_allowed"))
        else:
            deliver.append(r)
    return Decision(deliver=deliver, quarantine=quarantine, security=security)
