"""``mailflow verify-domain``: start SES domain verification and Easy DKIM, and watch them succeed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.config import SES_RECEIVING_REGIONS, MailflowConfig
from mailflow_cli.errors import MailflowError
from mailflow_cli.operate.durations import format_duration
from mailflow_cli.operate.timing import Clock

SUCCESS = "Success"
POLL_INTERVAL_SECONDS = 15.0


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """SES identity verification has no resource-level permissions."""
    return (
        allow(
            scopes.any,
            "ses:VerifyDomainIdentity",
            "ses:VerifyDomainDkim",
            "ses:GetIdentityVerificationAttributes",
            "ses:GetIdentityDkimAttributes",
        ),
    )


@dataclass(frozen=True)
class VerificationStarted:
    token: str
    dkim_tokens: list[str]


@dataclass(frozen=True)
class IdentityStatus:
    verification: str
    dkim: str
    dkim_enabled: bool = True

    @property
    def verified(self) -> bool:
        return self.verification == SUCCESS and self.dkim == SUCCESS

    def as_dict(self) -> dict[str, object]:
        return {"verification": self.verification, "dkim": self.dkim, "dkimEnabled": self.dkim_enabled}


class VerificationIncomplete(MailflowError):
    exit_code = 1

    def __init__(self, message: str, *, status: IdentityStatus, details: list[str], hint: str) -> None:
        super().__init__(message, details=details, hint=hint)
        self.status = status


def start_verification(ses: Any, domain: str) -> VerificationStarted:
    """Idempotent in SES: calling again returns the identity's existing tokens."""
    token = str(ses.verify_domain_identity(Domain=domain)["VerificationToken"])
    dkim_tokens = [str(t) for t in ses.verify_domain_dkim(Domain=domain)["DkimTokens"]]
    return VerificationStarted(token=token, dkim_tokens=dkim_tokens)


def read_status(ses: Any, domain: str) -> IdentityStatus:
    verification = ses.get_identity_verification_attributes(Identities=[domain])["VerificationAttributes"]
    dkim = ses.get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"]
    dkim_entry = dkim.get(domain, {})
    return IdentityStatus(
        verification=str(verification.get(domain, {}).get("VerificationStatus", "NotStarted")),
        dkim=str(dkim_entry.get("DkimVerificationStatus", "NotStarted")),
        dkim_enabled=bool(dkim_entry.get("DkimEnabled", False)),
    )


def wait_until_verified(
    ses: Any,
    domain: str,
    *,
    timeout: float,
    clock: Clock,
    on_poll: Callable[[IdentityStatus, float], None] = lambda status, elapsed: None,
    interval: float = POLL_INTERVAL_SECONDS,
) -> IdentityStatus:
    """Poll until verification and DKIM both succeed; :class:`VerificationIncomplete` at the deadline."""
    started = clock.now()
    while True:
        status = read_status(ses, domain)
        elapsed = clock.now() - started
        on_poll(status, elapsed)
        if status.verified:
            return status
        if "Failed" in (status.verification, status.dkim) or elapsed >= timeout:
            raise incomplete(domain, status, elapsed)
        clock.sleep(min(interval, max(0.0, timeout - elapsed)))


def incomplete(domain: str, status: IdentityStatus, elapsed: float) -> VerificationIncomplete:
    return VerificationIncomplete(
        f"{domain} is not verified after {format_duration(elapsed)} "
        f"(verification: {status.verification}, DKIM: {status.dkim})",
        status=status,
        details=likely_causes(domain, status),
        hint=f"re-run `mailflow verify-domain {domain} --wait` once the records are visible",
    )


def likely_causes(domain: str, status: IdentityStatus) -> list[str]:
    causes: list[str] = []
    if status.verification == "Failed" or status.dkim == "Failed":
        causes.append(
            "SES gave up: it did not find the records within 72 hours. Check them, then run "
            "`mailflow verify-domain` again to restart verification."
        )
    if status.verification in ("Pending", "NotStarted"):
        causes.append(
            f"the TXT record _amazonses.{domain} is not visible yet: check it with "
            f"`dig +short TXT _amazonses.{domain}` (DNS changes can take up to 72 hours)"
        )
    if status.dkim in ("Pending", "NotStarted"):
        causes.append(
            f"the three DKIM CNAMEs (<token>._domainkey.{domain}) are not visible yet: check them with "
            f"`dig +short CNAME <token>._domainkey.{domain}`"
        )
    if "TemporaryFailure" in (status.verification, status.dkim):
        causes.append("SES could not query your DNS servers; it will try again by itself")
    return causes


def domain_warnings(config: MailflowConfig, domain: str) -> list[str]:
    warnings: list[str] = []
    if domain not in config.domains:
        warnings.append(
            f"{domain} is not in the config's domains ({', '.join(config.domains)}): the stack's receipt "
            "rule will not deliver its mail until you add it and run `mailflow deploy`"
        )
    if config.region not in SES_RECEIVING_REGIONS:
        warnings.append(
            f"SES does not receive email in {config.region}: choose a receiving region "
            "(for example us-east-1, us-west-2 or eu-west-1)"
        )
    return warnings
