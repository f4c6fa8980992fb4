"""``mailflow status``, sending (issue 11.5): the SES account (sandbox, paused, quota), the reputation rates
against alarms.reputation, and each app's feedback events of the last 24 h from the handler's log lines
(contract L), by Logs Insights where there is one and by the lines themselves where not."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from operate_helpers import Cli

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY, deploy_stack
from mailflow_cli.deploy.retry import NO_WAIT
from mailflow_cli.operate.timing import FakeClock

GROUP = "/aws/lambda/mailflow-dev-handler"


@pytest.fixture(scope="module", autouse=True)
def complete_stack(deployed: Path) -> None:
    """Deploy again: the module's stack had its event source mappings removed for the queue tests."""
    context = open_stack(deployed)
    context.extras[RETRY_POLICY_KEY] = NO_WAIT
    deploy_stack(context, assume_yes=True)


def answering(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, Callable[[dict[str, Any]], Any]]
) -> list[str]:
    """Answer the named operations as AWS would (paths moto does not have); the rest go to moto. Returns
    the operations made, in order."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    made: list[str] = []

    def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        made.append(operation)
        if operation in answers:
            return answers[operation](params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return made


def feedback_line(app: str | None, event: str, outcome: str = "delivered to app queue") -> str:
    """A handler log line of contract L."""
    record: dict[str, Any] = {
        "level": "INFO",
        "message": "outbound event",
        "event": event,
        "sesMessageId": "0100-ses",
        "correlationId": "c-1",
        "addressHashes": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "outcome": outcome,
        "sqsMessageId": "m-1",
    }
    if app is not None:
        record["app"] = app
    return json.dumps(record)


def write_lines(stack: StackContext, clock: FakeClock, lines: list[str], age: timedelta) -> None:
    logs = stack.clients.client("logs")
    stream = f"2026/01/01/[$LATEST]{len(lines)}{int(age.total_seconds())}"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    at = int((clock.now() - age.total_seconds()) * 1000)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": at, "message": line} for line in lines],
    )


def test_a_new_account_is_in_the_sandbox_with_no_rates_yet(stack: StackContext, cli: Cli) -> None:
    result = cli("status", "--json")
    report = json.loads(result.stdout)
    sending = report["sending"]
    assert sending["account"] == {
        "production_access": False,
        "sending_enabled": True,
        "enforcement": "HEALTHY",
        "max_24_hour_send": 200.0,
        "max_send_rate": 1.0,
        "sent_last_24_hours": 0.0,
    }
    assert sending["reputation"]["bounce"] == {"percent": None, "warn": 2.0, "alarm": 4.0, "level": "no data"}
    assert sending["reputation"]["complaint"]["level"] == "no data"
    assert report["healthy"] is True, report["problems"]  # the sandbox is worth knowing, not a failure
    assert any("the account is in the SES sandbox in eu-west-1" in w for w in report["warnings"])
    shown = cli("status")
    assert "Sending  SES account in eu-west-1" in shown.stdout
    assert "in the SES sandbox, sending enabled, enforcement HEALTHY" in shown.stdout
    assert "bounce rate no data yet (warn 2 %, alarm 4 %)" in shown.stdout
    assert "Worth knowing:" in shown.stderr


def test_rates_past_the_thresholds_warn_and_then_need_attention(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    """SES publishes the rates as fractions in AWS/SES, without dimensions (here the test publishes)."""
    cloudwatch = stack.clients.client("cloudwatch")
    when = datetime.fromtimestamp(clock.now(), tz=UTC) - timedelta(minutes=30)
    cloudwatch.put_metric_data(
        Namespace="AWS/SES",
        MetricData=[
            {"MetricName": "Reputation.BounceRate", "Value": 0.025, "Timestamp": when},
            {"MetricName": "Reputation.ComplaintRate", "Value": 0.0009, "Timestamp": when},
        ],
    )
    result = cli("status", "--json")
    report = json.loads(result.stdout)
    assert report["sending"]["reputation"]["bounce"]["percent"] == 2.5
    assert report["sending"]["reputation"]["bounce"]["level"] == "warn"
    assert report["sending"]["reputation"]["complaint"]["level"] == "alarm"
    assert "the account's bounce rate is 2.5 %, above 2 %" in report["warnings"]
    assert any(
        p.startswith("the account's complaint rate is 0.09 %, at or above 0.08 %") for p in report["problems"]
    )
    assert result.exit_code == 1


def test_paused_sending_and_a_review_need_attention(
    stack: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS-only states (moto's account is always healthy): GetAccount answered as SES does for an account
    whose sending AWS paused."""
    paused = {
        "ProductionAccessEnabled": True,
        "SendingEnabled": False,
        "EnforcementStatus": "SHUTDOWN",
        "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 45000.0},
    }
    answering(monkeypatch, {"GetAccount": lambda _: paused})
    report = json.loads(cli("status", "--json").stdout)
    assert any(
        "SES sending is paused for this account in eu-west-1 (enforcement SHUTDOWN)" in p
        for p in report["problems"]
    )
    assert any("SES sent 45,000 of its 50,000 messages a day" in w for w in report["warnings"])
    assert not any("sandbox" in w for w in report["warnings"])


def test_feedback_counts_per_app_from_the_log_lines_where_logs_insights_answers_otherwise(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    """moto's Logs Insights ignores `filter` and `stats`: its answer has no counts, so status reads the
    lines themselves (FilterLogEvents) and says so. Duplicates (an SNS redelivery) are not counted twice."""
    clock.time = time.time()  # CloudWatch Logs refuses events from more than two hours ahead
    write_lines(
        stack,
        clock,
        [
            feedback_line("app1", "delivery"),
            feedback_line("app1", "delivery"),
            feedback_line("app1", "bounce"),
            feedback_line("app1", "bounce", outcome="duplicate"),
            feedback_line("app2", "complaint"),
            feedback_line("app2", "deliveryDelay"),
            feedback_line(None, "Bounce", outcome="unattributed"),
            json.dumps({"level": "INFO", "message": "outbound email", "app": "app1", "outcome": "sent"}),
        ],
        age=timedelta(hours=2),
    )
    write_lines(stack, clock, [feedback_line("app1", "bounce")], age=timedelta(hours=30))  # outside 24 h
    report = json.loads(cli("status", "--json").stdout)
    feedback = report["sending"]["feedback24h"]
    assert feedback["source"] == "log-lines"
    assert feedback["note"].startswith("Logs Insights is not available here (its answer has no counts)")
    assert feedback["apps"] == {
        "(unattributed)": {"bounce": 1},
        "app1": {"delivery": 2, "bounce": 1},
        "app2": {"complaint": 1, "deliveryDelay": 1},
    }
    table = cli("status").stdout
    assert "Outbound feedback, last 24 h (the handler's log lines)" in table


def test_feedback_counts_from_logs_insights(
    stack: StackContext, cli: Cli, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS: StartQuery over the window, GetQueryResults polled until Complete, one row per app and event."""
    polls = iter(["Scheduled", "Running", "Complete"])
    asked: list[dict[str, Any]] = []

    def start(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"queryId": "q-1"}

    def results(_: dict[str, Any]) -> dict[str, Any]:
        status = next(polls)
        rows = [
            [
                {"field": "app", "value": "app1"},
                {"field": "event", "value": "bounce"},
                {"field": "n", "value": "3"},
            ],
            [{"field": "event", "value": "delivery"}, {"field": "n", "value": "1"}],
        ]
        return {"status": status, "results": rows if status == "Complete" else []}

    made = answering(monkeypatch, {"StartQuery": start, "GetQueryResults": results})
    slept = len(clock.slept)
    feedback = json.loads(cli("status", "--json").stdout)["sending"]["feedback24h"]
    assert feedback == {
        "source": "logs-insights",
        "apps": {"(unattributed)": {"delivery": 1}, "app1": {"bounce": 3}},
        "truncated": False,
        "note": None,
    }
    [query] = asked
    assert query["logGroupName"] == GROUP
    assert query["endTime"] - query["startTime"] == 24 * 3600
    assert 'filter message = "outbound event"' in query["queryString"]
    assert made.count("GetQueryResults") == 3
    assert "FilterLogEvents" not in made
    assert len(clock.slept) - slept == 2


def test_a_query_that_does_not_finish_is_stopped_and_the_lines_are_read(
    stack: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = answering(
        monkeypatch,
        {
            "StartQuery": lambda _: {"queryId": "q-2"},
            "GetQueryResults": lambda _: {"status": "Running", "results": []},
            "StopQuery": lambda _: {"success": True},
        },
    )
    feedback = json.loads(cli("status", "--json").stdout)["sending"]["feedback24h"]
    assert made.count("StopQuery") == 1
    assert feedback["source"] == "log-lines"
    assert "still Running after 30 s" in feedback["note"]
