"""SES receipt rule evaluation, as SES applies the active rule set to each recipient of a message.

- Rules are applied in the order of the set; a disabled rule is skipped.
- A rule with no recipients matches every recipient. Otherwise a recipient entry matches:
  a full address exactly (``user@example.com``), a domain every address at that domain
  (``example.com``), and a domain with a leading dot every address at any of its subdomains
  (``.example.com``). Comparison is case-insensitive.
- A ``StopAction`` ends rule processing for the recipients of the rule that contains it (scope RuleSet).
- A recipient that no enabled rule matches is refused (SES: ``550 5.1.1 Mailbox does not exist``).
- ``TlsPolicy: Require`` rejects a message that was not received over TLS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAILBOX_DOES_NOT_EXIST = "550 5.1.1 Mailbox does not exist"
TLS_REQUIRED = "554 5.7.1 Message rejected: the receipt rule requires TLS; use STARTTLS"


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def recipient_matches(entry: str, address: str) -> bool:
    entry = entry.strip().lower()
    address = address.strip().lower()
    if not entry:
        return False
    if "@" in entry:
        return entry == address
    domain = address_domain(address)
    if entry.startswith("."):
        return domain.endswith(entry) and len(domain) > len(entry)
    return domain == entry


def rule_matches(rule: Mapping[str, Any], address: str) -> bool:
    if not rule.get("Enabled", False):
        return False
    entries: Sequence[str] = rule.get("Recipients") or ()
    return not entries or any(recipient_matches(entry, address) for entry in entries)


def requires_tls(rule: Mapping[str, Any]) -> bool:
    return str(rule.get("TlsPolicy", "Optional")) == "Require"


def has_stop(rule: Mapping[str, Any]) -> bool:
    return any("StopAction" in action for action in rule.get("Actions") or ())


@dataclass(frozen=True)
class RuleApplication:
    """One rule that fires for a message, and the recipients it fires for (in envelope order)."""

    rule: Mapping[str, Any]
    recipients: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(self.rule.get("Name", ""))


@dataclass
class Evaluation:
    applications: list[RuleApplication] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    tls_refused: list[str] = field(default_factory=list)


def rules_for(rules: Sequence[Mapping[str, Any]], address: str) -> list[Mapping[str, Any]]:
    """The rules that apply to one recipient, in order, up to and including the first with a stop."""
    applied: list[Mapping[str, Any]] = []
    for rule in rules:
        if rule_matches(rule, address):
            applied.append(rule)
            if has_stop(rule):
                break
    return applied


def check_recipient(rules: Sequence[Mapping[str, Any]], address: str, *, tls: bool) -> str | None:
    """The SMTP refusal for this recipient at RCPT time, or None when SES would accept it."""
    applied = rules_for(rules, address)
    if not applied:
        return MAILBOX_DOES_NOT_EXIST
    if not tls and any(requires_tls(rule) for rule in applied):
        return TLS_REQUIRED
    return None


def evaluate(rules: Sequence[Mapping[str, Any]], recipients: Sequence[str], *, tls: bool) -> Evaluation:
    """Which rules fire for which recipients of one message, in rule order."""
    result = Evaluation()
    per_rule: dict[int, list[str]] = {}
    for address in recipients:
        refusal = check_recipient(rules, address, tls=tls)
        if refusal == MAILBOX_DOES_NOT_EXIST:
            result.unmatched.append(address)
            continue
        if refusal is not None:
            result.tls_refused.append(address)
            continue
        for rule in rules_for(rules, address):
            per_rule.setdefault(id(rule), []).append(address)
    for rule in rules:
        matched = per_rule.get(id(rule))
        if matched:
            result.applications.append(RuleApplication(rule=rule, recipients=tuple(matched)))
    return result
