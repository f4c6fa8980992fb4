"""Fixtures for the day-two commands: configs, a deployed stack in moto, a fake clock and a CLI runner.

The stack is deployed once per test module by the deploy engine (``deploy_stack``) and every queue
is emptied after each test. Its outbound event source mapping is removed, so no message is consumed
behind a test's back: the tests play the handler's part themselves (moto runs no Lambda code here).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from operate_helpers import Cli, CliResult

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY, deploy_stack
from mailflow_cli.deploy.retry import NO_WAIT
from mailflow_cli.local.moto_patches import install_moto_compat
from mailflow_cli.operate import timing

CONFIG_TEXT = """\
environment: {environment}
region: eu-west-1
domains:
  - example.com
  - example.org
apps:
  - app1
  - app2
"""


def write_config(directory: Path, environment: str = "dev") -> Path:
    path = directory / "mailflow.yaml"
    path.write_text(CONFIG_TEXT.format(environment=environment), encoding="utf-8")
    return path


def _isolated_environment(patch: pytest.MonkeyPatch, home: Path) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_") or n == "MAILFLOW_CONFIG"]:
        patch.delenv(name)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The config of a stack deployed by the deploy engine, in a moto account that lives for the module."""
    directory = tmp_path_factory.mktemp("stack")
    with pytest.MonkeyPatch.context() as patch:
        _isolated_environment(patch, directory)
        undo = install_moto_compat()
        try:
            with mock_aws():
                path = write_config(directory)
                context = open_stack(path)
                context.extras[RETRY_POLICY_KEY] = NO_WAIT
                deploy_stack(context, assume_yes=True)
                _verify_domains(context)
                detach_event_sources(context)
                yield path
        finally:
            undo()


def _verify_domains(context: StackContext) -> None:
    ses = context.clients.client("ses")
    for domain in context.config.domains:
        ses.verify_domain_identity(Domain=domain)
        ses.verify_domain_dkim(Domain=domain)


def detach_event_sources(context: StackContext) -> None:
    lambda_client = context.clients.client("lambda")
    for mapping in lambda_client.list_event_source_mappings(FunctionName=context.names.function)[
        "EventSourceMappings"
    ]:
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])


def _drain(sqs: Any, url: str) -> None:
    """Delete every message (moto, like SQS, allows one PurgeQueue a minute)."""
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def _reset(context: StackContext) -> None:
    sqs = context.clients.client("sqs")
    for url in sqs.list_queues(QueueNamePrefix=context.names.name_prefix).get("QueueUrls", []):
        _drain(sqs, url)
    logs = context.clients.client("logs")
    group = context.names.log_group
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        context.extras[RETRY_POLICY_KEY] = NO_WAIT
        deploy_stack(context, assume_yes=True)  # a test removed it: put it back as deploy made it
        detach_event_sources(context)
        return
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        logs.delete_log_stream(logGroupName=group, logStreamName=stream["logStreamName"])


@pytest.fixture
def stack(deployed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StackContext]:
    """The deployed stack, with empty queues; the working directory holds its mailflow.yaml."""
    monkeypatch.chdir(deployed.parent)
    context = open_stack(deployed)
    yield context
    _reset(context)


@pytest.fixture
def ghost(deployed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackContext:
    """A config whose stack was never deployed (in the same account as ``stack``)."""
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path, environment="ghost")
    # Domains of its own: with dev's, the plan would report a receiving conflict (security review 6).
    path.write_text(
        path.read_text(encoding="utf-8").replace("  - example", "  - ghost.example"), encoding="utf-8"
    )
    return open_stack(path)


@pytest.fixture
def clock() -> Iterator[timing.FakeClock]:
    fake = timing.FakeClock()
    timing.use_clock(fake.as_clock())
    yield fake
    timing.use_clock(timing.SYSTEM_CLOCK)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: timing.FakeClock, monkeypatch: pytest.MonkeyPatch) -> Cli:
    from mailflow_cli import cli as cli_module
    from mailflow_cli import console

    for stream in (console.out, console.err):  # wide enough that tables never fold a value
        monkeypatch.setattr(stream, "_width", 240)
    if cli_module.app.registered_commands or cli_module.app.registered_groups:
        # run() registers the commands each time, as a process runs it once; here it would pile them up
        monkeypatch.setattr(cli_module, "_register_commands", lambda: None)

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            cli_module.run(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS operation the code under test calls, with its parameters, in order (calls still go to
    moto): for counting, e.g., the Lambda Invoke calls a redrive made."""
    from botocore.client import BaseClient

    calls: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls.append((operation_name, api_params))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls
