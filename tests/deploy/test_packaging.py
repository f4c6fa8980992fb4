"""The Lambda zip is deterministic and complete; the desired policy and env vars do not grow with apps."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.config import MailflowConfig, parse_config
from mailflow_cli.deploy.resources.function import environment
from mailflow_cli.deploy.resources.role import handler_policy
from mailflow_cli.naming import stack_names
from mailflow_cli.packaging import build_bundle, handler_source_dir, runtime_config

ACCOUNT = "123456789012"


def config_with_apps(count: int) -> MailflowConfig:
    apps = "\n".join(f"  - app{i}" for i in range(count))
    return parse_config(
        f"environment: dev\nregion: eu-west-1\ndomains: [example.com, example.org]\napps:\n{apps}\n"
    )


def test_the_same_input_gives_the_same_bytes() -> None:
    config = config_with_apps(2)
    first = build_bundle(config, stack_names(config, ACCOUNT))
    second = build_bundle(config, stack_names(config, ACCOUNT))
    assert first.zip_bytes == second.zip_bytes
    assert first.sha256 == second.sha256
    other = build_bundle(config_with_apps(3), stack_names(config, ACCOUNT))
    assert other.sha256 != first.sha256


def test_zip_entries_are_sorted_with_fixed_time_and_mode_and_no_caches(tmp_path: Path) -> None:
    source = tmp_path / "mailflow_handler"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__init__.py").write_text("x = 1\n")
    (source / "z.py").write_text("")
    (source / "__pycache__" / "z.cpython-311.pyc").write_bytes(b"\0")
    config = config_with_apps(1)
    bundle = build_bundle(config, stack_names(config, ACCOUNT), source=source)
    with zipfile.ZipFile(io.BytesIO(bundle.zip_bytes)) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == ["mailflow_config.json", "mailflow_handler/__init__.py", "mailflow_handler/z.py"]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


def test_zip_holds_the_handler_package_and_the_runtime_config() -> None:
    config = config_with_apps(2)
    names = stack_names(config, ACCOUNT)
    bundle = build_bundle(config, names)
    with zipfile.ZipFile(io.BytesIO(bundle.zip_bytes)) as archive:
        document = json.loads(archive.read("mailflow_config.json"))
        entries = archive.namelist()
    handler_files = {
        f"mailflow_handler/{p.relative_to(handler_source_dir()).as_posix()}"
        for p in handler_source_dir().rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert handler_files <= set(entries)
    assert document == runtime_config(config, names)
    assert document["apps"]["app0"]["senders"] == ["_app0@example.com", "_app0@example.org"]
    assert document["queues"]["inboundDlq"] == "mailflow-dev-inbound-dlq"
    assert document["idempotency"] == {
        "table": "mailflow-dev-idempotency",
        "ttlSeconds": 86400,
        "inProgressSeconds": 120,
        "receiptTtlSeconds": 7 * 86400,
    }


def test_policy_and_environment_are_the_same_for_two_and_a_thousand_apps() -> None:
    small, large = config_with_apps(2), config_with_apps(1000)
    small_policy = json.dumps(handler_policy(small, stack_names(small, ACCOUNT)), separators=(",", ":"))
    large_policy = json.dumps(handler_policy(large, stack_names(large, ACCOUNT)), separators=(",", ":"))
    assert small_policy == large_policy
    assert len(large_policy) < 10_240
    assert environment(small) == environment(large)
    assert len(json.dumps(environment(large))) < 4096


def test_the_cost_estimate_counts_the_alarm_metrics_of_the_alarms_deploy_creates(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """CloudWatch bills an alarm per metric it reads: the deployed alarms' metrics are what is priced."""
    from mailflow_cli.commands.cost import shape_for
    from mailflow_cli.deploy import deploy_stack

    ctx, _ = open_recorded(
        write_config(
            apps=[f"app{i}" for i in range(7)],
            alarms={"appQueueAge": True},
            **{"lambda": {"reservedConcurrency": 3}},
        )
    )
    deploy_stack(ctx)
    deployed = aws_client("cloudwatch").describe_alarms(AlarmNamePrefix="mailflow-dev-")["MetricAlarms"]
    metrics = sum(len([m for m in alarm.get("Metrics", []) if "MetricStat" in m]) or 1 for alarm in deployed)
    # errors, the four DLQs, the two reputation rates, throttles, one queue age per app
    assert metrics == shape_for(ctx.config).alarm_metrics == 1 + 4 + 2 + 1 + 7


def test_stored_logs_grow_with_the_retention() -> None:
    from mailflow_cli.cost import StackShape, estimate

    def logs_cost(days: int) -> float:
        return estimate(1_000_000, shape=StackShape(log_retention_days=days)).by_service()["CloudWatch"]

    # a year's retention keeps twelve months of logs, not one
    assert logs_cost(365) - logs_cost(30) > 10 * (logs_cost(30) - logs_cost(1)) > 0
