"""`mailflow local faults` on a running emulator with a deployed stack: AWS call faults hit only what the
functions do (never the CLI or a test's own client), and Lambda's own recovery handles a crash or a
timeout that comes after the handler's first write (its idempotency lock).

AWS behaviour relied on: an asynchronous invocation that fails is retried twice, then sent to the
function's dead-letter queue with an ErrorMessage attribute; Lambda retries about a minute later, after
the failed attempt's deadline, so an idempotency lock taken with the invocation's remaining time has
expired by then (the emulator waits until the deadline has passed, plus a second).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import load_config
from mailflow_cli.context import StackContext
from mailflow_cli.local.control import process_running
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.send import send_message
from mailflow_cli.local.ses_event import Verdicts
from mailflow_cli.local.state import EmulatorState, read_state

from .test_e2e import mailflow

pytestmark = pytest.mark.e2e

CONFIG = """\
environment: faults
region: eu-west-1
domains:
  - example.com
apps:
  - app1
lambda:
  timeoutSeconds: 5
"""
WAIT = 40.0


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, EmulatorState, AwsClients]]:
    from mailflow_cli.deploy import deploy_stack

    workdir = tmp_path_factory.mktemp("faults")
    home = workdir / "home"
    (workdir / "mailflow.yaml").write_text(CONFIG, encoding="utf-8")
    ports = ("--port", str(free_port()), "--smtp-port", str(free_port()))
    started = mailflow(home, "local", "start", *ports, "--region", "eu-west-1")
    assert started.returncode == 0, started.stderr
    state = read_state(home / "local" / "state.json")
    assert state is not None
    try:
        target = AwsTarget(
            "eu-west-1", endpoint_url=state.endpoint, access_key=state.access_key, secret_key=state.secret_key
        )
        clients = AwsClients(target)
        config = load_config(workdir / "mailflow.yaml")
        deploy_stack(
            StackContext(config=config, config_path=workdir / "mailflow.yaml", clients=clients, local=True),
            assume_yes=True,
        )
        yield home, state, clients
    finally:
        mailflow(home, "local", "faults", "clear")
        mailflow(home, "local", "stop")
        assert not process_running(state.pid)


def send(state: EmulatorState, subject: str) -> str:
    raw = (
        f"From: Alice <alice@sender.example>\r\nTo: _app1@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@sender.example>\r\n\r\nHello.\r\n"
    ).encode()
    sent = send_message(
        raw, host=state.smtp_host, port=state.smtp_port, mail_from=None, recipients=[], verdicts=Verdicts()
    )
    assert sent.accepted, sent.refused
    return sent.message_id


def messages(sqs: Any, queue: str, accept: Any, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
    """Every message ``accept`` takes, once ``count`` of them are there and no more came for 7 s (one
    Lambda retry after a 5 s timeout); each is deleted."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in got:
            if accept(message):
                found.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if len(found) >= count:
            if quiet_until is None or any(accept(m) for m in got):
                quiet_until = time.monotonic() + 7
            if time.monotonic() >= quiet_until:
                break
    return found


def faults(home: Path) -> dict[str, Any]:
    shown = mailflow(home, "local", "faults", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def function_log(clients: AwsClients) -> str:
    events = clients.client("logs").filter_log_events(logGroupName="/aws/lambda/mailflow-faults-handler")
    return "\n".join(event["message"] for event in events["events"])


def with_subject(subject: str) -> Any:
    return lambda message: json.loads(message["Body"]).get("email", {}).get("subject") == subject


def test_a_malformed_rule_exits_2_naming_it(emulator: tuple[Path, EmulatorState, AwsClients]) -> None:
    home, _, _ = emulator
    refused = mailflow(
        home, "local", "faults", "set", "sqs:SendMessage=0.2:ServiceUnavailable", "s3:GetObjekt=0.1"
    )
    assert refused.returncode == 2
    assert "fault rule 's3:GetObjekt=0.1': s3 has no operation 'GetObjekt'" in " ".join(
        refused.stderr.split()
    )
    assert faults(home)["rules"] == [], "nothing was set"


def test_aws_faults_hit_the_functions_calls_and_never_the_clis_or_a_tests(
    emulator: tuple[Path, EmulatorState, AwsClients],
) -> None:
    home, state, clients = emulator
    assert mailflow(home, "local", "faults", "set", "sqs:SendMessage=always", "--seed", "5").returncode == 0
    try:
        sqs = clients.client("sqs")
        own = sqs.get_queue_url(QueueName="mailflow-faults-app-app1")["QueueUrl"]
        sqs.send_message(QueueUrl=own, MessageBody=json.dumps({"type": "test", "email": {"subject": "own"}}))
        ses_id = send(state, "never delivered")
        dead = messages(
            sqs,
            "mailflow-faults-inbound-dlq",
            lambda m: json.loads(m["Body"])["Records"][0]["ses"]["mail"]["messageId"] == ses_id,
            count=1,
        )
        assert len(dead) == 1, "Lambda sent the event to the function's DLQ after two retries"
        assert "ServiceUnavailable" in dead[0]["MessageAttributes"]["ErrorMessage"]["StringValue"]
        assert [
            json.loads(m["Body"])["email"]["subject"]
            for m in messages(sqs, "mailflow-faults-app-app1", lambda m: True, count=1, timeout=5)
        ] == ["own"]
        injected = faults(home)["rules"][0]["injected"]
        assert injected >= 9, "three attempts, each retried three times by botocore"
    finally:
        mailflow(home, "local", "faults", "clear")


@pytest.mark.parametrize(
    ("rule", "logged"),
    [
        ("lambda:crash=first:1", "Runtime exited with error: signal: killed"),
        ("lambda:timeout=first:1;write=2", "Task timed out after 5.00 seconds"),
    ],
)
def test_a_crash_or_timeout_after_the_lock_is_recovered_by_lambdas_retry(
    emulator: tuple[Path, EmulatorState, AwsClients], rule: str, logged: str
) -> None:
    home, state, clients = emulator
    assert mailflow(home, "local", "faults", "set", rule).returncode == 0
    try:
        subject = f"recovered {uuid.uuid4()}"
        ses_id = send(state, subject)
        delivered = messages(
            clients.client("sqs"), "mailflow-faults-app-app1", with_subject(subject), count=1
        )
        assert len(delivered) == 1, "exactly once"
        assert json.loads(delivered[0]["Body"])["metadata"]["sesMessageId"] == ses_id
        assert faults(home)["rules"][0]["injected"] == 1
        assert logged in function_log(clients)
    finally:
        mailflow(home, "local", "faults", "clear")
