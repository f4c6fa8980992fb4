"""What the plan shows for an update: only the leaves that differ."""

from __future__ import annotations

import pytest

from mailflow_cli.commands.stack import describe_diff


def test_a_lifecycle_change_names_the_rule_and_the_field() -> None:
    old = [{"id": "expire-raw", "expirationDays": 7}, {"id": "expire-outbound", "expirationDays": 7}]
    new = [{"id": "expire-raw", "expirationDays": 9}, {"id": "expire-outbound", "expirationDays": 7}]
    assert describe_diff("lifecycle", old, new) == ["lifecycle[expire-raw].expirationDays: 7 -> 9"]


def test_nested_dicts_and_removed_keys() -> None:
    old = {"tags": {"team": "mail", "cost": "a"}}
    new = {"tags": {"team": "mail"}}
    assert describe_diff("x", old, new) == ['x.tags.cost: "a" -> null']


def test_a_value_set_for_the_first_time_says_it_was_unset() -> None:
    assert describe_diff("retentionInDays", None, 30) == ["retentionInDays: (unset) -> 30"]


def test_the_plan_names_the_changes_only_an_administrator_may_make(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mailflow_cli.commands.stack import render_plan
    from mailflow_cli.deploy.model import Action, Change, Plan

    plan = Plan(
        (
            Change(
                "iam-boundary-policy", "mailflow-dev-handler-boundary", Action.UPDATE, administrative=True
            ),
            Change("sqs-queue", "mailflow-dev-default", Action.UPDATE),
        )
    )
    render_plan(plan)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Administrator:")]
    assert len(lines) == 1
    assert lines[0].startswith(
        "Administrator: update iam-boundary-policy mailflow-dev-handler-boundary: only"
    )
