"""SES inbound: the receipt rule set (one active per account and region) and this stack's rule.

A rule set cannot be tagged: Mailflow's shared set is recognised by its reserved name, and a set the
user named in ``ses.ruleSet`` is used but never created, deactivated or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.deploy.handlers.base import Discovery, ResourceHandler, both, fan_out, missing
from mailflow_cli.deploy.model import Conflict, Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.receipt_rule import (
    ReceiptRuleSpec,
    RuleSetSpec,
    claimed_domains,
    normalise_rule,
)
from mailflow_cli.deploy.retry import RECEIPT_TARGETS_NOT_READY
from mailflow_cli.naming import SHARED_RULE_SET

_NO_SET = ("RuleSetDoesNotExist", "RuleSetDoesNotExistException")
_NO_RULE = ("RuleDoesNotExist", "RuleDoesNotExistException", *_NO_SET)


def active_rule_set(ses: Any) -> str | None:
    metadata = ses.describe_active_receipt_rule_set().get("Metadata") or {}
    name = metadata.get("Name")
    return str(name) if name else None


class RuleSetHandler(ResourceHandler[RuleSetSpec]):
    resource_type = RuleSetSpec

    def _rules(self, rule_set: str) -> list[str] | None:
        """The rule names in the set, or None when the set does not exist."""
        try:
            rules = self.client("ses").describe_receipt_rule_set(RuleSetName=rule_set).get("Rules", [])
        except ClientError as exc:
            if missing(exc, *_NO_SET):
                return None
            raise
        return [rule["Name"] for rule in rules]

    def _observed(
        self, resource: RuleSetSpec, active: str | None, rules: list[str] | None
    ) -> Observed | None:
        if rules is None:
            return None
        return Observed({"active": active == resource.name}, handle={"activeSet": active, "rules": rules})

    def discover(self, resource: RuleSetSpec) -> Observed | None:
        active, rules = both(lambda: active_rule_set(self.client("ses")), lambda: self._rules(resource.name))
        return self._observed(resource, active, rules)

    def discover_all(self, desired: Sequence[RuleSetSpec]) -> Discovery[RuleSetSpec]:
        """The active set is read once, at the same time as the sets, and kept for :meth:`assess_all`
        (which needs no read of its own, also when the set does not exist yet)."""
        active, rules = both(
            lambda: active_rule_set(self.client("ses")),
            lambda: fan_out(lambda rule_set: self._rules(rule_set.name), desired),
        )
        return Discovery(
            {r.key: self._observed(r, active, found) for r, found in zip(desired, rules, strict=True)},
            facts={"activeSet": active},
        )

    def assess_all(
        self, desired: Sequence[RuleSetSpec], found: Discovery[RuleSetSpec]
    ) -> dict[str, Conflict | None]:
        """Uses the active set that :meth:`discover_all` read (it always records it in ``facts``)."""
        active = found.facts["activeSet"]
        return {r.key: self._assess(r, found.observed[r.key], active) for r in desired}

    def _assess(
        self, resource: RuleSetSpec, observed: Observed | None, active: str | None
    ) -> Conflict | None:
        if observed is None and not resource.managed:
            return Conflict(
                resource.kind,
                resource.name,
                "ses.ruleSet names a receipt rule set that does not exist in this account and region",
                hint="create it in the SES console, or remove ses.ruleSet to use Mailflow's shared set",
            )
        if active and active != resource.name and not resource.may_replace_active:
            return Conflict(
                resource.kind,
                resource.name,
                f"another receipt rule set, {active!r}, is active in {self.names.region}, and only one "
                "set can be active per account and region; Mailflow will not deactivate or edit it "
                "without your say-so",
                hint=f"either set `ses: {{ruleSet: {active}}}` in the config to add this stack's rule to "
                "that set, or set `ses: {activateRuleSet: true}` to make Mailflow's set active instead "
                f"(the rules in {active!r} then stop receiving mail)",
            )
        return None

    def kept_on_destroy(self, resource: RuleSetSpec, observed: Observed) -> str | None:
        if not resource.managed:
            return "it is the set named in ses.ruleSet, which Mailflow uses but never deletes"
        others = sorted(set(observed.handle.get("rules", [])) - {self.names.receipt_rule})
        if others:
            return f"still holds rules of other stacks ({', '.join(others)})"
        return None

    def create(self, resource: RuleSetSpec, step: StepReporter) -> None:
        ses = self.client("ses")
        ses.create_receipt_rule_set(RuleSetName=resource.name)
        ses.set_active_receipt_rule_set(RuleSetName=resource.name)

    def update(
        self, resource: RuleSetSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        self.client("ses").set_active_receipt_rule_set(RuleSetName=resource.name)

    def delete(self, resource: RuleSetSpec, observed: Observed, step: StepReporter) -> None:
        rules = self._rules(resource.name)
        if rules is None:
            step.note("already removed with this stack's rule")
            return
        if rules:
            step.note(f"kept: still holds {len(rules)} rule(s) of other stacks")
            return
        delete_shared_rule_set(self.client("ses"))


class ReceiptRuleHandler(ResourceHandler[ReceiptRuleSpec]):
    """SES applies every rule of the active set that matches a recipient, in order: a domain that another
    rule of the set also receives is a conflict, and the rule is appended after the set's own rules."""

    resource_type = ReceiptRuleSpec

    def _rules_in(self, rule_set: str) -> list[dict[str, Any]] | None:
        """Every rule of the set, in order (None when the set does not exist)."""
        try:
            rules = self.client("ses").describe_receipt_rule_set(RuleSetName=rule_set).get("Rules", [])
        except ClientError as exc:
            if missing(exc, *_NO_SET):
                return None
            raise
        return list(rules)

    def discover(self, resource: ReceiptRuleSpec) -> Observed | None:
        try:
            rule = self.client("ses").describe_receipt_rule(
                RuleSetName=resource.rule_set, RuleName=resource.rule_name
            )
        except ClientError as exc:
            if missing(exc, *_NO_RULE):
                return None
            raise
        return Observed(normalise_rule(rule["Rule"]))

    def discover_all(self, desired: Sequence[ReceiptRuleSpec]) -> Discovery[ReceiptRuleSpec]:
        """One read per rule set gives this stack's rule and every other rule it must not overlap."""
        strays = tuple(self.strays(desired))
        resources = [*desired, *strays]
        sets = sorted({resource.rule_set for resource in resources})
        rules = dict(zip(sets, fan_out(self._rules_in, sets), strict=True))

        def observed(resource: ReceiptRuleSpec) -> Observed | None:
            found = next((r for r in rules[resource.rule_set] or [] if r["Name"] == resource.rule_name), None)
            return Observed(normalise_rule(found)) if found is not None else None

        return Discovery({r.key: observed(r) for r in resources}, strays, facts={"rulesBySet": rules})

    def assess_all(
        self, desired: Sequence[ReceiptRuleSpec], found: Discovery[ReceiptRuleSpec]
    ) -> dict[str, Conflict | None]:
        rules = found.facts["rulesBySet"]
        return {r.key: self._overlap(r, rules.get(r.rule_set) or []) for r in desired}

    def _overlap(self, resource: ReceiptRuleSpec, rules: list[dict[str, Any]]) -> Conflict | None:
        claims = [
            f"{domain} by the rule {rule['Name']!r}{_owner(rule['Name'])} (recipient {recipient!r})"
            for rule in rules
            if rule["Name"] != resource.rule_name
            for domain, recipient in claimed_domains(resource.recipients, rule)
        ]
        if not claims:
            return None
        return Conflict(
            resource.kind,
            resource.name,
            f"another rule of the receipt rule set {resource.rule_set!r} already receives mail for "
            f"{'; '.join(claims)}: SES applies every matching rule, so each of those messages would "
            "reach both",
            hint="give each environment a domain of its own, for example a subdomain per environment "
            "(dev.example.com, with its own MX record and SES identity), or remove the other rule (or "
            "its recipients that cover these domains)",
        )

    def strays(self, desired: Sequence[ReceiptRuleSpec]) -> Sequence[ReceiptRuleSpec]:
        """This stack's rule left in Mailflow's shared set after the config moved it to ses.ruleSet."""
        moved = [rule for rule in desired if rule.rule_set != SHARED_RULE_SET]
        return [
            replace(rule, name=f"{SHARED_RULE_SET}/{rule.rule_name}", rule_set=SHARED_RULE_SET)
            for rule in moved
        ]

    def _position(self, resource: ReceiptRuleSpec) -> dict[str, str]:
        """``After`` the set's last rule (read now), unless the rule goes first: SES inserts a rule
        without ``After`` at the beginning, ahead of the set's own filter and stop rules."""
        if resource.position == "first":
            return {}
        others = [
            r["Name"] for r in self._rules_in(resource.rule_set) or [] if r["Name"] != resource.rule_name
        ]
        return {"After": others[-1]} if others else {}

    def create(self, resource: ReceiptRuleSpec, step: StepReporter) -> None:
        ses = self.client("ses")
        position = self._position(resource)
        self.services.retry.call(
            lambda: ses.create_receipt_rule(RuleSetName=resource.rule_set, Rule=resource.rule(), **position),
            when=RECEIPT_TARGETS_NOT_READY,
            waiting=step.waiting,
        )

    def update(
        self, resource: ReceiptRuleSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        ses = self.client("ses")
        self.services.retry.call(
            lambda: ses.update_receipt_rule(RuleSetName=resource.rule_set, Rule=resource.rule()),
            when=RECEIPT_TARGETS_NOT_READY,
            waiting=step.waiting,
        )

    def delete(self, resource: ReceiptRuleSpec, observed: Observed, step: StepReporter) -> None:
        """The last rule in Mailflow's shared set goes with the set, which would otherwise stay empty."""
        ses = self.client("ses")
        if resource.rule_set == SHARED_RULE_SET:
            rules = ses.describe_receipt_rule_set(RuleSetName=resource.rule_set).get("Rules", [])
            if [rule["Name"] for rule in rules] == [resource.rule_name]:
                delete_shared_rule_set(ses)
                step.note(f"deleted with {SHARED_RULE_SET}, which held no other rule")
                return
        ses.delete_receipt_rule(RuleSetName=resource.rule_set, RuleName=resource.rule_name)


def _owner(rule_name: str) -> str:
    environment = rule_name.removeprefix("mailflow-").removesuffix("-inbound")
    if rule_name.startswith("mailflow-") and rule_name.endswith("-inbound") and environment.isalnum():
        return f" of the Mailflow environment {environment!r}"
    return ""


def delete_shared_rule_set(ses: Any) -> None:
    """Deactivate Mailflow's shared set if it is the active one, then delete it (and any rules in it)."""
    if active_rule_set(ses) == SHARED_RULE_SET:
        ses.set_active_receipt_rule_set()
    ses.delete_receipt_rule_set(RuleSetName=SHARED_RULE_SET)
