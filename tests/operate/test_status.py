from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from operate_helpers import Cli, inbound_message, put

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY, deploy_stack
from mailflow_cli.deploy.retry import NO_WAIT


@pytest.fixture(scope="module", autouse=True)
def complete_stack(deployed: Path) -> None:
    """Deploy again: the module's stack had its event source mapping removed for the queue tests."""
    context = open_stack(deployed)
    context.extras[RETRY_POLICY_KEY] = NO_WAIT
    deploy_stack(context, assume_yes=True)


def test_a_fresh_stack_is_healthy(stack: StackContext, cli: Cli) -> None:
    result = cli("status")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Healthy: mail is flowing." in result.stdout
    assert "active rule set: mailflow-receipt-rules" in result.stdout
    assert "example.org: verification Success, DKIM Success" in result.stdout
    assert "mailflow-dev-inbound-dlq" in result.stdout


def test_json_report(stack: StackContext, cli: Cli) -> None:
    report = json.loads(cli("status", "--json").stdout)
    assert report["healthy"] is True
    assert {r["state"] for r in report["resources"]} == {"present"}
    assert report["receiptRules"]["rule_in_active_set"] is True
    assert [q["name"] for q in report["queues"]][:2] == ["mailflow-dev-app-app1", "mailflow-dev-app-app2"]
    assert report["handler24h"] == {"invocations": 0.0, "errors": 0.0, "throttles": 0.0}


def test_dlq_messages_and_alarms_need_attention(stack: StackContext, cli: Cli) -> None:
    put(stack, "mailflow-dev-apps-dlq", inbound_message("app1", "stuck"))
    cloudwatch = stack.clients.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNamePrefix="mailflow-dev")["MetricAlarms"][0]["AlarmName"]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="Threshold crossed")
    try:
        result = cli("status")
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="reset")
    assert result.exit_code == 1
    assert "Needs attention:" in result.stderr
    assert "1 message(s) in the apps DLQ: see mailflow dlq list" in result.stderr
    assert f"alarm {alarm} is in ALARM: Threshold crossed" in result.stderr


def test_drift_and_missing_resources_and_an_unverified_domain(
    stack: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = stack.clients.client("sqs")
    url = sqs.get_queue_url(QueueName="mailflow-dev-app-app2")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})
    ses = stack.clients.client("ses")
    ses.delete_identity(Identity="example.org")
    try:
        report = json.loads(cli("status", "--json").stdout)
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "300"})
        ses.verify_domain_identity(Domain="example.org")
        ses.verify_domain_dkim(Domain="example.org")
    assert report["healthy"] is False
    drifted = [r for r in report["resources"] if r["state"] != "present"]
    assert [(r["name"], r["state"]) for r in drifted] == [("mailflow-dev-app-app2", "drifted")]
    assert "7" in drifted[0]["detail"]
    assert any("example.org is not verified in SES (NotStarted)" in p for p in report["problems"])


def test_an_inactive_rule_set_means_no_mail(stack: StackContext, cli: Cli) -> None:
    ses = stack.clients.client("ses")
    ses.set_active_receipt_rule_set()
    try:
        result = cli("status")
    finally:
        ses.set_active_receipt_rule_set(RuleSetName="mailflow-receipt-rules")
    assert result.exit_code == 1
    assert "no SES receipt rule set is active in eu-west-1: SES drops all inbound mail" in result.stderr


def test_missing_stack(ghost: StackContext, cli: Cli) -> None:
    result = cli("status")
    assert result.exit_code == 1
    assert "the stack mailflow-ghost is not deployed in eu-west-1" in result.stderr


def test_oldest_ages_are_asked_for_in_batches_of_500_queries(stack: StackContext) -> None:
    """GetMetricData accepts at most 500 MetricDataQueries per call (moto does not enforce it)."""
    from mailflow_cli.operate import status

    sizes: list[int] = []
    cloudwatch = stack.clients.client("cloudwatch")
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: sizes.append(len(params["MetricDataQueries"])),
    )
    names = [f"mailflow-dev-app-a{index}" for index in range(1201)]
    assert status._oldest_ages(stack, names, 1_800_000_000.0) == {}
    assert sizes == [500, 500, 201]


def test_status_reuses_the_plan_and_reads_each_queue_once_concurrently(deployed: Path) -> None:
    """No GetQueueUrl (the plan's ListQueues gave the URLs), one GetQueueAttributes per queue on top of
    the plan's, on the fan-out's threads, and the active rule set read once (by the plan)."""
    import threading
    from collections import Counter

    from mailflow_cli.operate import status

    calls: Counter[str] = Counter()
    threads: list[str] = []
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1
            if model.name == "GetQueueAttributes":
                threads.append(threading.current_thread().name)

    ctx = open_stack(deployed)
    ctx.clients.event_hooks.append(("before-call.*.*", record))
    report = status.collect(ctx, 1_800_000_000.0)
    queues = len(report.queues)
    assert queues == 2 + 7  # app1, app2, default, outbound, SES events and the four dead-letter queues
    assert all(queue.visible is not None for queue in report.queues)
    assert report.rule_set is not None
    assert report.rule_set.rule_in_active_set
    assert calls["GetQueueUrl"] == 0
    assert calls["ListQueues"] == 1
    assert calls["GetQueueAttributes"] == 2 * queues  # the plan's (all attributes) + status's counts
    assert calls["DescribeActiveReceiptRuleSet"] == 1  # the plan's
    assert all(name.startswith("mailflow-fetch") for name in threads)
