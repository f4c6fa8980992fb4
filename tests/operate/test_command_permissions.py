"""Each day-two command's calls are covered by the policy `mailflow permissions --commands <it>` gives it
alone: every call each command makes against the stack in moto is decided as IAM would
(tests/iam_enforcement.py), so a call that the command's declarations do not cover fails here by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from operate_helpers import Cli

from command_runs import DAY_TWO, hosted_zone, seed
from iam_enforcement import CallChecker, EnforcementLog, Request, recording_calls
from mailflow_cli.access import Scopes
from mailflow_cli.context import open_stack
from mailflow_cli.permissions import deployer_policy

# status reports the DLQ entries seeded for dlq; send-test --wait times out (moto receives no mail); no
# handler ever logged a line about that address.
EXPECTED_EXIT = {
    ("status",): 1,
    ("send-test", "app1", "--wait", "--timeout", "5s"): 1,
    ("trace", "someone@example.net"): 1,
}


def test_every_call_of_each_command_is_covered_by_its_own_policy(
    deployed: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(deployed.parent)
    ctx = open_stack(deployed)
    scopes = Scopes.of(ctx.config, ctx.names)
    running: list[str] = []
    policies: dict[str, dict[str, Any]] = {}

    def policy_of(request: Request) -> dict[str, Any] | None:
        if not running:
            return None
        return policies.setdefault(running[0], deployer_policy(scopes, running))

    checker = CallChecker(policy_of)
    hosted_zone(ctx.clients.client)
    seed(ctx.clients.client, ctx.names)
    steps = [
        *DAY_TWO,
        ("send-test", ("send-test", "app1", "--wait", "--timeout", "5s")),
        ("deploy", ("deploy", "--yes")),
        ("destroy", ("destroy", "--yes", "--force")),
    ]
    exits: dict[tuple[str, ...], int] = {}
    made: dict[str, int] = {}
    with recording_calls(checker):
        for command, argv in steps:
            running[:] = [command]
            before = len(checker.log.entries)
            result = cli(*argv)
            running.clear()
            exits[argv] = result.exit_code
            made[command] = made.get(command, 0) + len(checker.log.entries) - before
            assert "Traceback" not in result.stderr, result.stderr

    # Only the boundary's deletion, which the deployer's policy denies: an administrator makes it
    # (moto here enforces nothing; tests/e2e/test_deploy_permissions.py shows destroy stopping there).
    assert EnforcementLog.denied(checker.log.entries) == [
        f"iam:DeletePolicy needs iam:DeletePolicy on {ctx.names.boundary_arn} : denied with an explicit "
        "deny (NeverWriteTheBoundary)"
    ]
    assert exits == {argv: EXPECTED_EXIT.get(argv, 0) for _, argv in steps}
    decided = {entry.decision.check.action for entry in checker.log.entries}
    assert decided >= {  # the seeded work was done: the calls that need it were made, and decided
        "sqs:StartMessageMoveTask",
        "sqs:SendMessage",
        "dynamodb:GetItem",
        "s3:GetObject",
        "lambda:InvokeFunction",
        "sqs:PurgeQueue",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "ses:SendRawEmail",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
    }
    no_calls = {"app-policy", "permissions"}  # the account id only, which needs no permission
    assert [command for command, count in made.items() if not count] == sorted(no_calls, key=list(made).index)
