"""Only one receipt rule set is active per account and region: environments share Mailflow's set,
and a foreign active set is never touched without the config's say-so."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.errors import MailflowError
from mailflow_cli.naming import SHARED_RULE_SET


def ses() -> Any:
    return aws_client("ses")


def rules_in(rule_set: str) -> list[str]:
    return [rule["Name"] for rule in ses().describe_receipt_rule_set(RuleSetName=rule_set)["Rules"]]


def active() -> str | None:
    metadata = ses().describe_active_receipt_rule_set().get("Metadata")
    return metadata["Name"] if metadata else None


def foreign_active_set() -> None:
    ses().create_receipt_rule_set(RuleSetName="corporate")
    ses().set_active_receipt_rule_set(RuleSetName="corporate")


def test_two_environments_share_the_set_and_destroying_one_keeps_the_other(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    dev, _ = open_recorded(write_config(environment="dev"))
    prod, _ = open_recorded(write_config(environment="prod", domains=["example.org"]))
    deploy_stack(dev)
    deploy_stack(prod)
    assert sorted(rules_in(SHARED_RULE_SET)) == ["mailflow-dev-inbound", "mailflow-prod-inbound"]
    assert active() == SHARED_RULE_SET
    report = destroy_stack(dev)
    assert rules_in(SHARED_RULE_SET) == ["mailflow-prod-inbound"]
    assert active() == SHARED_RULE_SET
    assert [(kept.name, "mailflow-prod-inbound" in kept.reason) for kept in report.kept] == [
        (SHARED_RULE_SET, True)
    ]
    assert not plan_stack(prod).has_changes
    prod_after, calls = open_recorded(write_config(environment="prod", domains=["example.org"]))
    destroy_stack(prod_after)
    assert active() is None
    assert ses().list_receipt_rule_sets().get("RuleSets", []) == []
    assert ("ses", "DeleteReceiptRule") not in calls.calls, "the last rule goes with its set"


def test_a_foreign_active_set_stops_deploy_before_any_change(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    foreign_active_set()
    ctx, recorder = open_recorded(write_config())
    with pytest.raises(MailflowError, match="'corporate', is active") as stopped:
        deploy_stack(ctx)
    assert "ruleSet: corporate" in str(stopped.value.hint)
    assert "activateRuleSet: true" in str(stopped.value.hint)
    assert recorder.mutating == []
    assert active() == "corporate"


def test_rule_set_in_config_adds_the_rule_to_that_set(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    foreign_active_set()
    ctx, _ = open_recorded(write_config(ses={"ruleSet": "corporate"}))
    outputs = deploy_stack(ctx)
    assert rules_in("corporate") == ["mailflow-dev-inbound"]
    assert active() == "corporate"
    assert outputs.receipt_rule_set == "corporate"
    report = destroy_stack(ctx)
    assert rules_in("corporate") == []
    assert active() == "corporate"
    assert [(kept.name, "ses.ruleSet" in kept.reason) for kept in report.kept] == [("corporate", True)]


def test_activate_rule_set_replaces_the_foreign_set(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    foreign_active_set()
    ctx, _ = open_recorded(write_config(ses={"activateRuleSet": True}))
    deploy_stack(ctx)
    assert active() == SHARED_RULE_SET
    assert rules_in("corporate") == []
    assert not plan_stack(ctx).has_changes


def test_a_missing_configured_rule_set_is_reported(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config(ses={"ruleSet": "nonexistent"}))
    with pytest.raises(MailflowError, match="does not exist"):
        deploy_stack(ctx)
    assert recorder.mutating == []


def test_moving_the_rule_to_a_configured_set_removes_it_from_the_shared_set(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    shared, _ = open_recorded(write_config())
    deploy_stack(shared)
    ses().create_receipt_rule_set(RuleSetName="corporate")
    moved, calls = open_recorded(write_config(ses={"ruleSet": "corporate", "activateRuleSet": True}))
    plan = plan_stack(moved)
    assert {(c.action.value, c.name) for c in plan.pending if c.kind == "ses-receipt-rule"} == {
        ("create", "corporate/mailflow-dev-inbound"),
        ("delete", f"{SHARED_RULE_SET}/mailflow-dev-inbound"),
    }
    leftover = next(c for c in plan.pending if c.action.value == "delete")
    assert "ses-receipt-rule:corporate/mailflow-dev-inbound" in leftover.depends_on
    deploy_stack(moved)
    order = [operation for _, operation in calls.calls]
    assert order.index("CreateReceiptRule") < order.index("DeleteReceiptRuleSet"), "replacement first"
    assert rules_in("corporate") == ["mailflow-dev-inbound"]
    assert SHARED_RULE_SET not in [s["Name"] for s in ses().list_receipt_rule_sets()["RuleSets"]]
    assert active() == "corporate"
    assert not plan_stack(moved).has_changes


def rule_for(name: str, recipients: list[str]) -> dict[str, Any]:
    return {"Name": name, "Enabled": True, "Recipients": recipients, "Actions": []}


def test_a_second_environment_with_the_same_domain_stops_before_any_change(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """Security review 6: SES applies every matching rule, so dev would silently get all of prod's mail."""
    prod, _ = open_recorded(write_config(environment="prod"))
    deploy_stack(prod)
    dev, recorder = open_recorded(write_config(environment="dev"))
    plan = plan_stack(dev)
    [conflict] = plan.conflicts
    assert conflict.name == f"{SHARED_RULE_SET}/mailflow-dev-inbound"
    assert (
        "example.com by the rule 'mailflow-prod-inbound' of the Mailflow environment 'prod'"
        in conflict.reason
    )
    assert "dev.example.com" in str(conflict.hint)
    with pytest.raises(MailflowError, match=r"already receives mail for example\.com"):
        deploy_stack(dev)
    assert recorder.mutating == []
    assert rules_in(SHARED_RULE_SET) == ["mailflow-prod-inbound"]


def test_a_subdomain_per_environment_does_not_conflict(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    prod, _ = open_recorded(write_config(environment="prod"))
    deploy_stack(prod)
    dev, _ = open_recorded(write_config(environment="dev", domains=["dev.example.com"]))
    assert plan_stack(dev).conflicts == ()
    deploy_stack(dev)
    assert sorted(rules_in(SHARED_RULE_SET)) == ["mailflow-dev-inbound", "mailflow-prod-inbound"]


@pytest.mark.parametrize(
    "case",
    [
        (["example.com"], "example.com", "'example.com'"),
        (["EXAMPLE.com"], "example.com", "'EXAMPLE.com'"),
        (["billing@example.com"], "example.com", "'billing@example.com'"),
        ([".example.com"], "dev.example.com", "'.example.com'"),
        (["other.org", ".example.com"], "a.b.example.com", "'.example.com'"),
        ([], "example.com", "every address"),
    ],
)
def test_any_foreign_rule_covering_a_domain_is_a_conflict(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener, case: tuple[list[str], str, str]
) -> None:
    """A rule recipient is an address, a domain, or .domain for its subdomains; none means every one."""
    recipients, domain, claimed_by = case
    foreign_active_set()
    ses().create_receipt_rule(RuleSetName="corporate", Rule=rule_for("catch", recipients))
    ctx, recorder = open_recorded(write_config(domains=[domain], ses={"ruleSet": "corporate"}))
    with pytest.raises(MailflowError, match=re.escape(f"{domain} by the rule 'catch'")) as stopped:
        deploy_stack(ctx)
    assert claimed_by in stopped.value.message
    assert recorder.mutating == []


@pytest.mark.parametrize(
    "recipients",
    [["example.org"], ["example.com.evil.org"], [".example.com"], ["someone@notexample.com"]],
)
def test_a_foreign_rule_for_other_domains_is_no_conflict(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener, recipients: list[str]
) -> None:
    """``.example.com`` covers the subdomains of example.com, not example.com itself."""
    foreign_active_set()
    ses().create_receipt_rule(RuleSetName="corporate", Rule=rule_for("other", recipients))
    ctx, _ = open_recorded(write_config(ses={"ruleSet": "corporate"}))
    assert plan_stack(ctx).conflicts == ()


def create_rule_calls(ctx: Any) -> list[dict[str, Any]]:
    """What the engine sends to CreateReceiptRule (botocore's provide-client-params event)."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    ctx.clients.event_hooks.append(("provide-client-params.ses.CreateReceiptRule", record))
    return sent


def test_the_rule_is_appended_after_the_rules_of_a_foreign_set(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """Security review 17: without After, SES inserts the rule first, ahead of the set's filter rules.
    (moto keeps the order SES documents: without After at the beginning, with After behind that rule.)"""
    foreign_active_set()
    ses().create_receipt_rule(RuleSetName="corporate", Rule=rule_for("spam-filter", ["example.org"]))
    ses().create_receipt_rule(
        RuleSetName="corporate", After="spam-filter", Rule=rule_for("bounce-and-stop", ["example.org"])
    )
    assert rules_in("corporate") == ["spam-filter", "bounce-and-stop"]
    ctx, _ = open_recorded(write_config(ses={"ruleSet": "corporate"}))
    sent = create_rule_calls(ctx)
    deploy_stack(ctx)
    assert [call.get("After") for call in sent] == ["bounce-and-stop"]
    assert rules_in("corporate") == ["spam-filter", "bounce-and-stop", "mailflow-dev-inbound"]


def test_rule_position_first_puts_the_rule_ahead(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    foreign_active_set()
    ses().create_receipt_rule(RuleSetName="corporate", Rule=rule_for("spam-filter", ["example.org"]))
    ctx, _ = open_recorded(write_config(ses={"ruleSet": "corporate", "rulePosition": "first"}))
    sent = create_rule_calls(ctx)
    deploy_stack(ctx)
    assert ["After" in call for call in sent] == [False]
    assert rules_in("corporate") == ["mailflow-dev-inbound", "spam-filter"]


def test_an_empty_set_gets_the_rule_without_after(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    sent = create_rule_calls(ctx)
    deploy_stack(ctx)
    assert ["After" in call for call in sent] == [False]
