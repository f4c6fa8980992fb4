"""trace, doctor and replay with --local against the emulator, where mail really flows: SMTP ingress,
receipt rule, the packaged handler (its log lines reach the emulator's CloudWatch Logs), the table, S3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_local_emulator import CONFIG, Emulated

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.local.control import process_running
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.state import read_state
from mailflow_handler.inbound.message import message_id_for

pytestmark = pytest.mark.e2e

INVOICE = (
    b"From: Alice <alice@example.org>\r\nSubject: Invoice 42\r\nMessage-ID: <i42@example.org>\r\n\r\nHi\r\n"
)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    workdir = tmp_path_factory.mktemp("local-diagnose")
    (workdir / "mailflow.yaml").write_text(CONFIG, encoding="utf-8")
    emulated = Emulated(home=workdir / "home", workdir=workdir)
    ports = ("--port", str(free_port()), "--smtp-port", str(free_port()), "--ui-port", str(free_port()))
    started = emulated.mailflow("local", "start", *ports, "--region", "eu-west-1")
    assert started.returncode == 0, started.stderr
    state = read_state(emulated.home / "local" / "state.json")
    assert state is not None
    try:
        for step in (("deploy", "--local", "--yes"), ("verify-domain", "example.com", "--local", "--json")):
            done = emulated.mailflow(*step)
            assert done.returncode == 0, done.stderr
        yield emulated
    finally:
        emulated.mailflow("local", "stop")
        assert not process_running(state.pid)


def _send(emulated: Emulated, to: str) -> str:
    path: Path = emulated.workdir / "invoice.eml"
    path.write_bytes(INVOICE)
    sent = emulated.mailflow("local", "send", str(path), "--to", to, "--from", "alice@example.org")
    assert sent.returncode == 0, sent.stderr
    return sent.stdout.strip().rsplit(" ", 1)[-1]  # "accepted for <to> as <SES id>"


def _traced(emulated: Emulated, query: str) -> dict[str, object]:
    """The match, once the handler's line is in the logs (the emulator writes them after the invocation;
    until then an SES id is found in the idempotency record alone, with a note saying so)."""
    for _ in range(40):
        result = emulated.mailflow("trace", query, "--local", "--json")
        if result.returncode == 0:
            matches = json.loads(result.stdout)["matches"]
            assert len(matches) == 1, matches
            match: dict[str, object] = matches[0]
            if "notes" not in match:
                return match
        else:
            assert result.returncode == 1, result.stderr
        time.sleep(0.5)
    raise AssertionError(f"trace never found {query}: {result.stderr}")


def test_trace_follows_an_email_through_the_emulator(emulated: Emulated) -> None:
    ses_id = _send(emulated, "_app1+invoices@example.com")
    match = _traced(emulated, ses_id)
    assert (match["direction"], match["sesMessageId"], match["outcome"], match["apps"]) == (
        "inbound",
        ses_id,
        "delivered",
        ["app1"],
    )
    events = match["events"]
    assert isinstance(events, list)
    assert events[0]["step"] == "received"
    assert any(e["step"] == "delivered" and e["app"] == "app1" for e in events)
    stored = match["stored"]
    assert isinstance(stored, dict)
    assert stored["record"]["status"] == "COMPLETED"
    assert stored["record"]["done"] == ["app1"]
    assert stored["raw"] == {"key": f"raw/{ses_id}", "present": True, "bytes": stored["raw"]["bytes"],
                             "lastModified": stored["raw"]["lastModified"]}  # fmt: skip
    unknown = emulated.mailflow("trace", "no-such-email", "--local", "--since", "1h")
    assert unknown.returncode == 1
    said = " ".join(unknown.stderr.split())  # stderr is folded at the terminal width
    assert (
        "No email matches 'no-such-email' (FilterLogEvents on /aws/lambda/mailflow-dev-handler, last 1h)"
        in said
    )


def test_doctor_against_the_emulator(emulated: Emulated) -> None:
    result = emulated.mailflow("doctor", "--local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["rule set"]["status"] == "ok"
    assert checks["rule"]["detail"] == "mailflow-dev-inbound is enabled for example.com"
    assert checks["example.com verified"]["status"] == "ok"
    assert checks["inbound DLQ"]["status"] == "ok"
    assert report["counts"]["fail"] == 0
    assert report["skipped"] == ["DNS checks (--local: the emulator receives mail without DNS)"]


def test_replay_plans_the_emulators_raw_mail(emulated: Emulated) -> None:
    ses_id = _send(emulated, "_billing@example.com")  # no such app: the default queue
    _traced(emulated, ses_id)
    result = emulated.mailflow("replay", "--since", "10m", "--dry-run", "--local", "--json")
    report = json.loads(result.stdout)
    assert report["emails"] >= 1
    assert report["counts"]["deliver"] == 0  # every email in the window reached all of its current targets
    assert report["perApp"] == {}
    assert result.returncode == (1 if report["counts"]["cannot replay"] else 0)


def _aws(emulated: Emulated, service: str) -> Any:
    """A client of the emulator's AWS endpoint."""
    state = read_state(emulated.home / "local" / "state.json")
    assert state is not None
    target = AwsTarget(
        "eu-west-1", endpoint_url=state.endpoint, access_key=state.access_key, secret_key=state.secret_key
    )
    return AwsClients(target).client(service)


def _take(sqs: Any, url: str, *, expect: int) -> list[dict[str, Any]]:
    """The messages on the queue (deleted as read): waits for `expect` of them, then returns once a
    receive finds nothing more."""
    taken: list[dict[str, Any]] = []
    for _ in range(30):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
            "Messages", []
        )
        for message in messages:
            taken.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if len(taken) >= expect and not messages:
            break
    return taken


def test_replay_delivers_to_an_app_added_later_exactly_once(emulated: Emulated) -> None:
    """Mail to an app that did not exist yet went to the default queue; the app is added and deployed;
    replay delivers the stored email to it once, with the deterministic message id, and never again:
    not on a second replay, and not when the function is invoked with the same replay event again."""
    ses_id = _send(emulated, "_reports@example.com")
    before = _traced(emulated, ses_id)
    assert before["apps"] == ["default"]
    config = emulated.workdir / "mailflow.yaml"
    config.write_text(CONFIG + "  - reports\n", encoding="utf-8")
    deployed = emulated.mailflow("deploy", "--local", "--yes")
    assert deployed.returncode == 0, deployed.stderr
    sqs = _aws(emulated, "sqs")
    url = sqs.get_queue_url(QueueName="mailflow-dev-app-reports")["QueueUrl"]

    first = emulated.mailflow("replay", "--since", "1h", "--yes", "--local", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["perApp"] == {"reports": 1}
    assert report["delivered"]["perApp"] == {"reports": 1}
    (message,) = _take(sqs, url, expect=1)
    assert (message["app"], message["metadata"]["sesMessageId"]) == ("reports", ses_id)
    assert message["id"] == message_id_for(ses_id, "reports")  # the handler's deterministic id

    second = emulated.mailflow("replay", "--since", "1h", "--yes", "--local", "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["counts"]["deliver"] == 0
    item = _aws(emulated, "dynamodb").get_item(
        TableName="mailflow-dev-idempotency", Key={"id": {"S": f"inbound#{ses_id}"}}, ConsistentRead=True
    )["Item"]
    assert json.loads(item["data"]["S"])["done"] == ["default", "reports"]
    stale = {
        "Records": [json.loads(item["receipt"]["S"])],
        "mailflowReplay": {"version": 1, "targets": {ses_id: ["reports"]}},
    }
    invoked = _aws(emulated, "lambda").invoke(
        FunctionName="mailflow-dev-handler", InvocationType="RequestResponse", Payload=json.dumps(stale)
    )
    assert "FunctionError" not in invoked
    assert _take(sqs, url, expect=0) == []

    for _ in range(40):  # the emulator writes an invocation's log lines once it has finished
        events = _traced(emulated, ses_id)["events"]
        assert isinstance(events, list)
        replayed = [e for e in events if e["step"] == "delivered" and e["app"] == "reports"]
        if replayed:
            break
        time.sleep(0.5)
    assert [e.get("detail", {}).get("replay") for e in replayed] == [True]
