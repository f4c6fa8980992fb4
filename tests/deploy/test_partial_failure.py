"""A deploy that fails at any single mutating call leaves a stack that the next deploy completes and that
destroy removes entirely.

The executor runs independent changes concurrently, so "the i-th mutating call" is identified by
operation and occurrence (the 2nd CreateQueue, ...), which names the same call in every run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from deploy_helpers import CallRecorder, ConfigWriter, StackOpener, aws_client

from mailflow_cli.context import StackContext
from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.errors import MailflowError

Target = tuple[tuple[str, str], int]


def nothing_left() -> dict[str, list[Any]]:
    client = aws_client
    found = {
        "buckets": client("s3").list_buckets()["Buckets"],
        "queues": client("sqs").list_queues().get("QueueUrls", []),
        "functions": client("lambda").list_functions()["Functions"],
        "roles": client("iam").list_roles()["Roles"],
        "policies": client("iam").list_policies(Scope="Local")["Policies"],
        "tables": client("dynamodb").list_tables()["TableNames"],
        "log_groups": client("logs").describe_log_groups()["logGroups"],
        "alarms": client("cloudwatch").describe_alarms()["MetricAlarms"],
        "topics": client("sns").list_topics()["Topics"],
        "rule_sets": client("ses").list_receipt_rule_sets().get("RuleSets", []),
    }
    return {kind: items for kind, items in found.items() if items}


def mutating_calls_of_a_fresh_deploy(ctx: StackContext, recorder: CallRecorder) -> list[Target]:
    deploy_stack(ctx)
    seen = Counter[tuple[str, str]]()
    targets = []
    for call in recorder.mutating:
        targets.append((call, seen[call]))
        seen[call] += 1
    destroy_stack(ctx)
    return targets


def fail_then_converge(ctx: StackContext, recorder: CallRecorder, target: Target) -> None:
    recorder.calls.clear()
    recorder.fail_on = target
    with pytest.raises(MailflowError, match="InjectedFailure"):
        deploy_stack(ctx)
    recorder.fail_on = None
    deploy_stack(ctx)
    assert not plan_stack(ctx).has_changes, f"no convergence after a failure at {target}"
    destroy_stack(ctx)
    assert nothing_left() == {}, f"destroy left resources after a failure at {target}"


def fail_then_destroy(ctx: StackContext, recorder: CallRecorder, target: Target) -> None:
    recorder.calls.clear()
    recorder.fail_on = target
    with pytest.raises(MailflowError, match="InjectedFailure"):
        deploy_stack(ctx)
    recorder.fail_on = None
    destroy_stack(ctx)
    assert nothing_left() == {}, f"destroy left resources of a deploy that failed at {target}"


def test_failure_at_each_mutating_call_of_the_core_stack(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config(apps=["app1"], alarms={"enabled": False}))
    targets = mutating_calls_of_a_fresh_deploy(ctx, recorder)
    assert len(targets) >= 20
    for target in targets:
        fail_then_converge(ctx, recorder, target)


def test_failure_at_each_alarm_topic_and_concurrency_call(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config(
        apps=["app1"], alarms={"email": "ops@example.com"}, **{"lambda": {"reservedConcurrency": 2}}
    )
    ctx, recorder = open_recorded(path)
    targets = mutating_calls_of_a_fresh_deploy(ctx, recorder)
    # Alarms are alike (one PutMetricAlarm each): the first occurrence of each operation stands for the rest.
    extra = [
        (call, nth)
        for call, nth in targets
        if nth == 0 and (call[0] in {"sns", "cloudwatch"} or call[1] == "PutFunctionConcurrency")
    ]
    assert {operation for (_, operation), _ in extra} == {
        "CreateTopic",
        "Subscribe",
        "PutMetricAlarm",
        "PutFunctionConcurrency",
    }
    for target in extra:
        fail_then_converge(ctx, recorder, target)


def test_destroy_removes_a_stack_left_half_built(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config(apps=["app1"], alarms={"enabled": False}))
    targets = mutating_calls_of_a_fresh_deploy(ctx, recorder)
    for target in targets[:: max(1, len(targets) // 8)]:
        fail_then_destroy(ctx, recorder, target)
