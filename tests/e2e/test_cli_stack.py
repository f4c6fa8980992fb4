"""The installed ``mailflow`` command against a moto server reached through AWS_ENDPOINT_URL.

moto runs in this process (ThreadedMotoServer) with the compatibility patches of
``mailflow_cli.local.moto_patches``; the CLI runs as a subprocess, exactly as a user runs it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailflow_cli.local.moto_patches import install_moto_compat

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CONFIG = """\
environment: e2e
region: eu-west-1
domains: [example.com]
apps: [app1, app2]
"""


def mailflow_executable() -> str:
    found = shutil.which("mailflow") or str(Path(sys.executable).parent / "mailflow")
    assert Path(found).exists(), "the mailflow console script is not installed"
    return found


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    undo = install_moto_compat()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        undo()
        from moto.core.models import reset_model_data

        reset_model_data()


def cli_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return {
        **env,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
        "NO_COLOR": "1",
        **extra,
    }


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_deploy_redeploy_outputs_destroy(moto_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "mailflow.yaml").write_text(CONFIG)
    env = cli_env(moto_endpoint)
    mailflow = mailflow_executable()

    deployed = run([mailflow, "deploy", "--yes"], tmp_path, env)
    assert deployed.returncode == 0, deployed.stderr
    assert "mailflow-e2e-app-app1" in deployed.stdout
    assert "Traceback" not in deployed.stderr

    again = run([mailflow, "deploy", "--yes", "--json"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert "No changes: the stack already matches the config." in again.stderr
    assert json.loads(again.stdout)["lambdaFunctionArn"].endswith(":function:mailflow-e2e-handler")

    shown = run([mailflow, "outputs", "--json"], tmp_path, env)
    assert shown.returncode == 0, shown.stderr
    outputs = json.loads(shown.stdout)
    for key in (
        "appQueueUrls",
        "defaultQueueUrl",
        "outboundQueueUrl",
        "lambdaFunctionArn",
        "rawEmailsBucketName",
        "deadLetterQueueUrls",
        "idempotencyTableName",
    ):
        assert outputs[key], key
    assert set(outputs["appQueueUrls"]) == {"app1", "app2"}
    assert (
        outputs["appQueueUrls"]["app1"].startswith(moto_endpoint)
        or "mailflow-e2e-app-app1" in outputs["appQueueUrls"]["app1"]
    )

    policy = run([mailflow, "app-policy", "app1", "--json"], tmp_path, env)
    assert policy.returncode == 0, policy.stderr
    assert (
        "arn:aws:sqs:eu-west-1:123456789012:mailflow-e2e-app-app1"
        in json.loads(policy.stdout)["Statement"][0]["Resource"]
    )

    destroyed = run([mailflow, "destroy", "--yes"], tmp_path, env)
    assert destroyed.returncode == 0, destroyed.stderr
    assert "delete sqs-queue mailflow-e2e-app-app1" in destroyed.stderr
    assert nothing_left(moto_endpoint) == {}


def nothing_left(endpoint: str) -> dict[str, list[object]]:
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, region_name="eu-west-1", endpoint_url=endpoint)

    found: dict[str, list[object]] = {
        "buckets": client("s3").list_buckets()["Buckets"],
        "queues": client("sqs").list_queues().get("QueueUrls", []),
        "functions": client("lambda").list_functions()["Functions"],
        "roles": client("iam").list_roles()["Roles"],
        "policies": client("iam").list_policies(Scope="Local")["Policies"],
        "tables": client("dynamodb").list_tables()["TableNames"],
        "alarms": client("cloudwatch").describe_alarms()["MetricAlarms"],
        "rule_sets": client("ses").list_receipt_rule_sets().get("RuleSets", []),
    }
    return {kind: items for kind, items in found.items() if items}


def test_a_second_environment_with_the_same_domain_stops_with_a_hint(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """Security review 6: both rules would match in the shared rule set, and both stacks get every mail."""
    env = cli_env(moto_endpoint)
    mailflow = mailflow_executable()
    (tmp_path / "mailflow.yaml").write_text(CONFIG)
    assert run([mailflow, "deploy", "--yes"], tmp_path, env).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "mailflow.yaml").write_text(CONFIG.replace("environment: e2e", "environment: staging"))
    planned = run([mailflow, "plan"], other, env)
    assert planned.returncode == 1, planned.stderr
    said = " ".join(planned.stderr.split())  # unwrapped
    assert "already receives mail for example.com by the rule 'mailflow-e2e-inbound'" in said
    assert "subdomain per environment (dev.example.com" in said
    deployed = run([mailflow, "deploy", "--yes"], other, env)
    assert deployed.returncode == 1
    assert "deploy stopped before changing anything: ses-receipt-rule" in " ".join(deployed.stderr.split())
    assert "Traceback" not in deployed.stderr
    assert run([mailflow, "destroy", "--yes"], tmp_path, env).returncode == 0
    assert nothing_left(moto_endpoint) == {}


def test_a_bad_config_exits_2_before_any_aws_call(tmp_path: Path) -> None:
    (tmp_path / "mailflow.yaml").write_text(CONFIG + "app: [typo]\n")
    env = cli_env("http://127.0.0.1:9")
    result = run([mailflow_executable(), "deploy", "--yes"], tmp_path, env)
    assert result.returncode == 2
    assert "mailflow.yaml:5: app: unknown key 'app' (did you mean 'apps'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_non_editable_install_ships_the_handler_and_deploys(moto_endpoint: str, tmp_path: Path) -> None:
    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    assert (target / "mailflow_cli" / "_handler" / "mailflow_handler" / "__init__.py").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mailflow.yaml").write_text(CONFIG.replace("e2e", "wheel"))
    env = cli_env(moto_endpoint, PYTHONPATH=str(target))
    located = run([sys.executable, "-c", "import mailflow_cli; print(mailflow_cli.__file__)"], elsewhere, env)
    assert located.stdout.strip().startswith(str(target)), located.stdout
    deployed = run([sys.executable, "-m", "mailflow_cli", "deploy", "--yes", "--json"], elsewhere, env)
    assert deployed.returncode == 0, deployed.stderr
    from moto.awslambda.models import lambda_backends

    code = lambda_backends["123456789012"]["eu-west-1"].get_function("mailflow-wheel-handler").code_bytes
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        names = archive.namelist()
    assert "mailflow_handler/__init__.py" in names
    assert "mailflow_config.json" in names
