"""The stack commands in process (moto via mock_aws): exit codes, JSON on stdout, messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_helpers import ConfigWriter, aws_client

from mailflow_cli.cli import run


def mailflow(*args: str) -> int:
    try:
        run(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_plan_exit_code_deploy_and_outputs(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_config())
    assert mailflow("plan", "-c", path, "--exit-code", "--json") == 2
    pending = json.loads(capsys.readouterr().out)
    assert pending["summary"]["create"] == len(pending["changes"])
    assert {"kind", "name", "action", "changes", "dependsOn"} <= set(pending["changes"][0])

    assert mailflow("deploy", "-c", path, "--yes", "--json") == 0
    deployed = capsys.readouterr()
    assert json.loads(deployed.out)["rawEmailsBucketName"].startswith("mailflow-dev-")

    assert mailflow("plan", "-c", path, "--exit-code") == 0
    assert "No changes: all 27 resources match the configuration." in capsys.readouterr().out

    assert mailflow("outputs", "-c", path) == 0
    assert "appQueueUrls.app1" in capsys.readouterr().out


def test_a_foreign_resource_is_one_clear_error_without_traceback(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_client("iam").create_role(RoleName="mailflow-dev-handler", AssumeRolePolicyDocument="{}")
    path = str(write_config())
    assert mailflow("deploy", "-c", path, "--yes") == 1
    stderr = capsys.readouterr().err
    assert "deploy stopped before changing anything: iam-role mailflow-dev-handler" in stderr
    assert "Traceback" not in stderr
    assert mailflow("plan", "-c", path) == 1


def test_a_bad_config_exits_2_without_calling_aws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mailflow.yaml"
    path.write_text("environment: dev\nregion: eu-west-1\ndomains: [example.com]\napps: [default]\n")
    assert mailflow("plan", "-c", str(path)) == 2
    assert "reserved" in capsys.readouterr().err


def test_a_bad_region_override_exits_2_without_calling_aws(
    write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mailflow("plan", "-c", str(write_config()), "--region", "Mars-1") == 2
    stderr = capsys.readouterr().err
    assert "--region: 'Mars-1' is not an AWS region name" in stderr
    assert "Traceback" not in stderr


def test_a_region_override_keeps_the_rest_of_the_config(write_config: ConfigWriter) -> None:
    from mailflow_cli.context import open_stack

    path = write_config(alarms={"email": "ops@example.com"})
    ctx = open_stack(path, region="us-east-1")
    assert ctx.config == open_stack(path).config.model_copy(update={"region": "us-east-1"})
