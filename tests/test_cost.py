"""The cost model: linear in volume, every service priced, the config's knobs change the right lines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailflow_cli.cost import (
    EU_WEST_1,
    US_EAST_1,
    StackShape,
    Workload,
    estimate,
    lambda_seconds,
    prices_for,
)

REPO = Path(__file__).resolve().parent.parent
SERVICES = {"Lambda", "SQS", "S3", "DynamoDB", "SNS", "SES", "CloudWatch"}


def _variable(emails: int, **kwargs: object) -> dict[str, float]:
    """Per-service cost minus the fixed (zero-volume) part."""
    at_n = estimate(emails, **kwargs).by_service()  # type: ignore[arg-type]
    at_0 = estimate(0, **kwargs).by_service()  # type: ignore[arg-type]
    return {k: at_n[k] - at_0[k] for k in at_n}


def test_every_service_is_priced() -> None:
    result = estimate(10_000)
    assert set(result.by_service()) == SERVICES
    assert all(line.usd > 0 for line in result.lines)


def test_variable_cost_scales_linearly() -> None:
    small = _variable(10_000)
    large = _variable(1_000_000)
    for service in SERVICES:
        if small[service] == 0:
            continue
        assert large[service] / small[service] == pytest.approx(100, rel=0.02), service


def test_zero_emails_costs_only_the_fixed_part() -> None:
    fixed = estimate(0).by_service()
    assert fixed["Lambda"] == 0
    assert fixed["SES"] == 0
    assert fixed["DynamoDB"] == 0
    assert fixed["SNS"] == 0
    assert fixed["CloudWatch"] > 0  # alarms are billed per month
    assert fixed["SQS"] > 0  # idle long polls


def test_more_memory_costs_more_lambda_for_io_bound_work() -> None:
    small = estimate(100_000, shape=StackShape(memory_mb=512)).by_service()
    big = estimate(100_000, shape=StackShape(memory_mb=2048)).by_service()
    assert big["Lambda"] > small["Lambda"]
    assert big["SES"] == small["SES"]


def test_cpu_scales_with_memory_share() -> None:
    work = Workload(botocore_cpu_per_call_s=0)
    assert lambda_seconds(0.01, 1769, 0, 0, work) == pytest.approx(0.01)
    assert lambda_seconds(0.01, 3538, 0, 0, work) == pytest.approx(0.01)  # never faster than one vCPU
    assert lambda_seconds(0.01, 442, 0, 0, work) == pytest.approx(0.04, rel=0.01)


def test_x86_costs_more_than_arm() -> None:
    arm = estimate(100_000, shape=StackShape(architecture="arm64")).by_service()["Lambda"]
    x86 = estimate(100_000, shape=StackShape(architecture="x86_64")).by_service()["Lambda"]
    assert 1 < x86 / arm <= 0.0000166667 / 0.0000133334  # duration is 25 % dearer, requests cost the same


def test_apps_add_polls_and_alarm_metrics_add_alarm_cost() -> None:
    two = estimate(0, shape=StackShape(apps=2)).by_service()
    ten = estimate(0, shape=StackShape(apps=10)).by_service()
    assert ten["CloudWatch"] == two["CloudWatch"]  # no alarm per app unless alarms.appQueueAge
    assert ten["SQS"] - two["SQS"] == pytest.approx(8 * 30 * 24 * 3600 / 20 * US_EAST_1.sqs_per_request)
    more = estimate(0, shape=StackShape(alarm_metrics=15)).by_service()
    assert more["CloudWatch"] - two["CloudWatch"] == pytest.approx(8 * US_EAST_1.alarm_metric_month)
    assert estimate(0, shape=StackShape(alarm_metrics=0)).by_service()["CloudWatch"] < two["CloudWatch"]


def test_custom_metrics_are_priced_only_when_the_config_asks_for_them() -> None:
    off = estimate(0, shape=StackShape()).by_service()["CloudWatch"]
    on = estimate(0, shape=StackShape(custom_metrics=16)).by_service()["CloudWatch"]
    assert on - off == pytest.approx(16 * US_EAST_1.custom_metric_month)


def test_each_sent_email_costs_its_ses_event() -> None:
    """One SES event per sent email: one SNS publish, the events queue and the app queue's requests, one
    Lambda invocation at low volume and one idempotency write; the Send event doubles them."""
    quiet = estimate(10_000, work=replace(Workload(), outbound_ratio=0.0))
    replying = estimate(10_000)
    sends = estimate(10_000, shape=StackShape(send_events=True))
    sns = {e.by_service()["SNS"] for e in (quiet, replying, sends)}
    assert sorted(sns) == pytest.approx(
        [0.0, 10_000 * US_EAST_1.sns_per_publish, 20_000 * US_EAST_1.sns_per_publish]
    )
    lambda_line = next(line.usage for line in replying.lines if line.service == "Lambda")
    assert lambda_line.startswith("30,000 invocations")  # 10 K inbound, 10 K outbound, 10 K events
    assert sends.by_service()["DynamoDB"] > replying.by_service()["DynamoDB"]


def test_the_example_stays_under_three_dollars_fifty_at_ten_thousand_emails() -> None:
    """Issue 11.8: mailflow.yaml.example at 10,000 received emails, list prices, no free tier, with the
    events queue and this round's alarms: at most 3.50 USD a month (it was 8.05)."""
    from mailflow_cli.commands.cost import shape_of

    _, shape = shape_of(REPO / "mailflow.yaml.example")
    assert (shape.alarm_metrics, shape.custom_metrics, shape.event_source_mappings) == (7, 0, 2)
    for prices in (US_EAST_1, EU_WEST_1):
        total = estimate(10_000, prices, shape, replace(Workload(), outbound_ratio=0.0)).total
        assert total <= 3.50, prices.region


def test_ses_receiving_counts_256k_chunks() -> None:
    small = estimate(1000, work=Workload(avg_email_bytes=10_000, outbound_ratio=0)).by_service()["SES"]
    big = estimate(1000, work=Workload(avg_email_bytes=600_000, outbound_ratio=0)).by_service()["SES"]
    assert small == pytest.approx(1000 * (0.10 + 0.09) / 1000)
    assert big == pytest.approx(1000 * (0.10 + 3 * 0.09) / 1000)


def test_region_prices() -> None:
    assert prices_for("eu-west-1") == (EU_WEST_1, True)
    assert prices_for("ap-south-1") == (US_EAST_1, False)
    eu = estimate(1_000_000, EU_WEST_1).by_service()
    us = estimate(1_000_000, US_EAST_1).by_service()
    assert eu["DynamoDB"] > us["DynamoDB"]
    assert eu["SES"] == us["SES"]


def test_negative_volume_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        estimate(-1)


def test_outbound_ratio_zero_sends_nothing() -> None:
    none = estimate(10_000, work=replace(Workload(), outbound_ratio=0.0))
    assert "0 sent" in next(line.usage for line in none.lines if line.service == "SES")


def test_cost_command_json(tmp_path: Path) -> None:
    from mailflow_cli.cli import _register_commands, app

    _register_commands()
    config = tmp_path / "mailflow.yaml"
    config.write_text((REPO / "mailflow.yaml.example").read_text().replace("memoryMb: 512", "memoryMb: 1024"))
    result = CliRunner().invoke(app, ["cost", "-c", str(config), "--emails-per-month", "100000", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["region"] == "eu-west-1"
    assert doc["emailsPerMonth"] == 100000
    assert set(doc["byService"]) == SERVICES
    assert doc["totalUsd"] == pytest.approx(sum(doc["byService"].values()), abs=0.01)
    assert "1024 MB" in doc["lines"][0]["usage"]
    # every option: the handler's 16 EMF metrics and one queue-age alarm per app (2)
    options = doc["withEveryOption"]["byService"]
    assert options["CloudWatch"] - doc["byService"]["CloudWatch"] == pytest.approx(
        16 * 0.30 + 2 * 0.10, abs=0.001
    )
    assert {k: v for k, v in options.items() if k != "CloudWatch"} == {
        k: v for k, v in doc["byService"].items() if k != "CloudWatch"
    }


def test_the_config_switches_change_the_estimate(tmp_path: Path) -> None:
    from mailflow_cli.cli import _register_commands, app

    _register_commands()
    example = (REPO / "mailflow.yaml.example").read_text()
    switched = tmp_path / "mailflow.yaml"
    switched.write_text(
        example.replace("metrics: false", "metrics: true").replace("appQueueAge: false", "appQueueAge: true")
    )
    totals = []
    for path in (REPO / "mailflow.yaml.example", switched):
        result = CliRunner().invoke(app, ["cost", "-c", str(path), "-n", "10000", "--json"])
        assert result.exit_code == 0, result.output
        totals.append(json.loads(result.stdout)["byService"]["CloudWatch"])
    assert totals[1] - totals[0] == pytest.approx(16 * 0.30 + 2 * 0.10, abs=0.001)
