"""Security verdicts from the SES event and the delivery policy.

Verdicts come only from the SES event, never from headers inside the message. The one header used is
the parsed From, and only where SES's DMARC verdict authenticated it (`sender_reason`).
"""

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

    def refuse(self, routes: list[Route], reason: str) -> None:
        """Move `routes` from delivery to quarantine with `reason`."""
        moved = {id(r) for r in routes}
        self.deliver = [r for r in self.deliver if id(r) not in moved]
        self.quarantine.extend((r, reason) for r in routes)

    def narrow(self, apps: frozenset[str]) -> None:
        """Keep only the routes to `apps` (a replay's targets); the others are not this attempt's work."""
        self.deliver = [r for r in self.deliver if r.app in apps]
        self.quarantine = [(r, reason) for r, reason in self.quarantine if r.app in apps]

    def unfinished_beyond(self, apps: frozenset[str], done: set[str], quarantine_done: str) -> bool:
        """True when a route to an app outside `apps` is still to be delivered or quarantined, given the
        targets `done` (`quarantine_done` stands for the quarantine)."""
        return any(r.app not in apps and r.app not in done for r in self.deliver) or (
            quarantine_done not in done and any(r.app not in apps for r, _ in self.quarantine)
        )

    def check_senders(
        self, routes: list[Route], config: Config, mail_from: str, header_from: str | _NotParsed | None
    ) -> None:
        """Quarantine those of `routes` whose app lists `allowedSenderDomains` and whose sender is not an
        authenticated sender of one of those domains (see `sender_reason`). With `header_from=NOT_PARSED`
        (before the message is parsed) only the routes refused whatever the From header says are moved."""
        envelope = _domain(mail_from) if "@" in mail_from else ""
        header = _domain(header_from) if isinstance(header_from, str) and "@" in header_from else None
        for r in routes:
            app = config.apps.get(r.app) if not r.is_default else None
            if app is None or not app.allowed_sender_domains:
                continue
            reason = sender_reason(app.allowed_sender_domains, self.security, envelope, header)
            if reason is not None and (header_from is not NOT_PARSED or self.security.dmarc != "PASS"):
                self.refuse([r], reason)


class _NotParsed:
    """The From header before the message is parsed."""


NOT_PARSED = _NotParsed()


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def sender_reason(
    allowed: frozenset[str], security: Security, envelope_domain: str, header_domain: str | None
) -> str | None:
    """None when the sender is an authenticated sender of an allowed domain: the envelope sender's
    domain is listed and SPF passed (SPF authenticates that domain), or the From header's domain is
    listed and DMARC passed (DMARC authenticates the From domain, aligned). Otherwise the reason:
    `sender_unauthenticated` when the envelope sender's domain is listed but unproven, else
    `sender_not_allowed`. The envelope sender alone is forgeable and never enough."""
    if envelope_domain in allowed and security.spf == "PASS":
        return None
    if header_domain is not None and header_domain in allowed and security.dmarc == "PASS":
        return None
    return "sender_unauthenticated" if envelope_domain in allowed else "sender_not_allowed"


def decide(routes: list[Route], receipt: dict[str, Any], config: Config) -> Decision:
    """Split routes on the SES verdicts: virus != PASS quarantines everything, spam FAIL and DMARC FAIL
    with policy reject follow `security.spamFail`/`dmarcReject`. Any DMARC FAIL is flagged."""
    security = Security.from_receipt(receipt)
    reasons: list[str] = []
    if security.virus != "PASS":
        reasons.append(f"virus_{security.virus.lower()}")
    if security.spam == "FAIL":
        if config.spam_fail == "quarantine":
            reasons.append("spam_fail")
        else:
            security.flags.append("spam_fail")
    if security.dmarc == "FAIL":
        security.flags.append("dmarc_fail")
        if security.dmarc_policy == "reject":
            if config.dmarc_reject == "quarantine":
                reasons.append("dmarc_reject")
            else:
                security.flags.append("dmarc_reject")
    if reasons:
        reason = ",".join(reasons)
        return Decision(deliver=[], quarantine=[(r, reason) for r in routes], security=security)
    return Decision(deliver=list(routes), quarantine=[], security=security)
