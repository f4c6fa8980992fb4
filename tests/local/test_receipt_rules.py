"""SES receipt rule evaluation: order, matching, enabled flag, TLS policy, STOP."""

from __future__ import annotations

from typing import Any

import pytest

from mailflow_cli.local.receipt_rules import (
    MAILBOX_DOES_NOT_EXIST,
    TLS_REQUIRED,
    check_recipient,
    evaluate,
    recipient_matches,
)


def rule(
    name: str, recipients: list[str], *, enabled: bool = True, stop: bool = False, tls: bool = False
) -> Any:
    actions: list[dict[str, Any]] = [{"S3Action": {"BucketName": "b"}}]
    if stop:
        actions.append({"StopAction": {"Scope": "RuleSet"}})
    return {
        "Name": name,
        "Enabled": enabled,
        "Recipients": recipients,
        "Actions": actions,
        "TlsPolicy": "Require" if tls else "Optional",
    }


@pytest.mark.parametrize(
    ("entry", "address", "expected"),
    [
        ("example.com", "a@example.com", True),
        ("example.com", "A@EXAMPLE.COM", True),
        ("example.com", "a@sub.example.com", False),
        (".example.com", "a@sub.example.com", True),
        (".example.com", "a@deep.sub.example.com", True),
        (".example.com", "a@example.com", False),
        ("_app1@example.com", "_app1@example.com", True),
        ("_app1@example.com", "_app2@example.com", False),
        ("example.com", "a@notexample.com", False),
        (".example.com", "a@badexample.com", False),
    ],
)
def test_recipient_matching_follows_ses(entry: str, address: str, expected: bool) -> None:
    assert recipient_matches(entry, address) is expected


def test_unmatched_recipient_is_refused_with_ses_text() -> None:
    rules = [rule("r1", ["example.com"])]
    assert check_recipient(rules, "x@other.org", tls=True) == MAILBOX_DOES_NOT_EXIST
    assert MAILBOX_DOES_NOT_EXIST.startswith("550 5.1.1")
    assert check_recipient(rules, "x@example.com", tls=True) is None


def test_disabled_rule_does_not_match() -> None:
    rules = [rule("off", ["example.com"], enabled=False)]
    assert check_recipient(rules, "x@example.com", tls=True) == MAILBOX_DOES_NOT_EXIST


def test_rule_without_recipients_matches_everything() -> None:
    result = evaluate([rule("all", [])], ["a@x.org", "b@y.net"], tls=True)
    assert [(a.name, a.recipients) for a in result.applications] == [("all", ("a@x.org", "b@y.net"))]


def test_rules_apply_in_order_and_each_gets_only_its_recipients() -> None:
    rules = [
        rule("first", ["_app1@example.com"]),
        rule("second", ["example.com"]),
        rule("third", ["other.org"]),
    ]
    result = evaluate(
        rules, ["_app1@example.com", "_app2@example.com", "z@other.org", "q@nowhere.net"], tls=True
    )
    assert [(a.name, a.recipients) for a in result.applications] == [
        ("first", ("_app1@example.com",)),
        ("second", ("_app1@example.com", "_app2@example.com")),
        ("third", ("z@other.org",)),
    ]
    assert result.unmatched == ["q@nowhere.net"]


def test_stop_action_ends_processing_for_its_recipients_only() -> None:
    rules = [rule("stopper", ["_app1@example.com"], stop=True), rule("catch-all", ["example.com"])]
    result = evaluate(rules, ["_app1@example.com", "_app2@example.com"], tls=True)
    assert [(a.name, a.recipients) for a in result.applications] == [
        ("stopper", ("_app1@example.com",)),
        ("catch-all", ("_app2@example.com",)),
    ]


def test_tls_policy_require_refuses_plain_sessions() -> None:
    rules = [rule("secure", ["example.com"], tls=True)]
    assert check_recipient(rules, "a@example.com", tls=False) == TLS_REQUIRED
    assert check_recipient(rules, "a@example.com", tls=True) is None
    assert evaluate(rules, ["a@example.com"], tls=False).tls_refused == ["a@example.com"]
