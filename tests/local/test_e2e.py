"""End to end on the emulator: the real CLI starts it, the deploy engine deploys mailflow.yaml.example
(the packaged handler zip), a real SMTP client sends mail, and the app queues receive what apps see."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mailflow_cli.config import parse_config
from mailflow_cli.local.control import process_running
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.send import send_message
from mailflow_cli.local.ses_event import Verdicts
from mailflow_cli.local.state import EmulatorState, read_state
from mailflow_cli.local.tls import client_context

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WAIT = 20.0
DOMAIN = "example.com"


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MAILFLOW_CONFIG"}
    env.update(MAILFLOW_HOME=str(home), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


def mailflow(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow_cli", *args],
        env=cli_env(home),
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Stack:
    home: Path
    state: EmulatorState
    outputs: dict[str, Any]
    clients: Any

    def client(self, name: str) -> Any:
        return self.clients.client(name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from mailflow_cli.aws import AwsClients, AwsTarget
    from mailflow_cli.context import StackContext
    from mailflow_cli.deploy import deploy_stack

    home = tmp_path_factory.mktemp("emulator-home")
    started = mailflow(
        home,
        "local",
        "start",
        "--port",
        str(free_port()),
        "--smtp-port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
        "--region",
        "eu-west-1",
    )
    state = read_state(home / "local" / "state.json")
    assert started.returncode == 0, started.stderr
    assert state is not None
    try:
        assert "export AWS_ENDPOINT_URL=" in started.stdout
        config = parse_config((REPO / "mailflow.yaml.example").read_text(encoding="utf-8"))
        clients = AwsClients(
            AwsTarget(
                region=config.region,
                endpoint_url=state.endpoint,
                access_key=state.access_key,
                secret_key=state.secret_key,
            )
        )
        ctx = StackContext(
            config=config, config_path=REPO / "mailflow.yaml.example", clients=clients, local=True
        )
        outputs = deploy_stack(ctx, assume_yes=True).to_json()
        clients.client("ses").verify_domain_identity(Domain=DOMAIN)
        yield Stack(home=home, state=state, outputs=outputs, clients=clients)
    finally:
        stopped = mailflow(home, "local", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert not process_running(state.pid)


def wait_for(
    sqs: Any, url: str, accept: Callable[[dict[str, Any]], bool], timeout: float = WAIT
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            if accept(body):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                return dict(body)
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return None


def email(to: str, subject: str, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Alice <alice@sender.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@sender.example>"
    message.set_content("Hello.\n")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="data.bin"
        )
    return message.as_bytes()


def with_subject(subject: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: (body.get("email") or {}).get("subject") == subject


def test_inbound_mail_reaches_app1_with_its_attachment_in_s3(stack: Stack) -> None:
    subject = f"inbound {uuid.uuid4().hex}"
    attachment = os.urandom(2048)
    sent = send_message(
        email(f"_app1@{DOMAIN}", subject, attachment), host=stack.state.smtp_host, port=stack.state.smtp_port
    )
    assert sent.accepted == [f"_app1@{DOMAIN}"]
    body = wait_for(stack.client("sqs"), stack.outputs["appQueueUrls"]["app1"], with_subject(subject))
    assert body is not None, "the message did not reach app1's queue"
    schema = json.loads((REPO / "docs" / "schemas" / "inbound-email.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(body, schema)
    assert body["app"] == "app1"
    assert body["metadata"]["sesMessageId"] == sent.message_id
    (ref,) = body["email"]["attachments"]
    s3 = stack.client("s3")
    assert s3.get_object(Bucket=ref["s3Bucket"], Key=ref["s3Key"])["Body"].read() == attachment
    raw = s3.get_object(Bucket=stack.outputs["rawEmailsBucketName"], Key=f"raw/{sent.message_id}")[
        "Body"
    ].read()
    assert raw.startswith(b"Return-Path: <alice@sender.example>\r\nReceived: from localhost")
    assert b"X-SES-Virus-Verdict: PASS" in raw


def test_mail_to_an_unknown_app_reaches_the_default_queue(stack: Stack) -> None:
    subject = f"unknown app {uuid.uuid4().hex}"
    send_message(
        email(f"_nosuchapp@{DOMAIN}", subject), host=stack.state.smtp_host, port=stack.state.smtp_port
    )
    body = wait_for(stack.client("sqs"), stack.outputs["defaultQueueUrl"], with_subject(subject))
    assert body is not None, "the message did not reach the default queue"


def test_a_domain_without_a_rule_is_refused_at_rcpt(stack: Stack) -> None:
    with smtplib.SMTP(stack.state.smtp_host, stack.state.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=client_context())
        smtp.ehlo()
        smtp.mail("alice@sender.example")
        code, reply = smtp.rcpt("someone@not-configured.org")
        assert (code, reply) == (550, b"5.1.1 Mailbox does not exist")
        assert smtp.rcpt(f"_app1@{DOMAIN}")[0] == 250


def test_the_rules_tls_policy_refuses_a_plain_session(stack: Stack) -> None:
    rules = stack.client("ses").describe_active_receipt_rule_set()["Rules"]
    assert any(rule.get("TlsPolicy") == "Require" for rule in rules), "requireTls: true in the example"
    with smtplib.SMTP(stack.state.smtp_host, stack.state.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("alice@sender.example")
        code, _ = smtp.rcpt(f"_app1@{DOMAIN}")
        assert code == 554


def test_a_virus_is_quarantined_and_never_reaches_the_app(stack: Stack) -> None:
    subject = f"virus {uuid.uuid4().hex}"
    sent = send_message(
        email(f"_app1@{DOMAIN}", subject),
        host=stack.state.smtp_host,
        port=stack.state.smtp_port,
        verdicts=Verdicts.parse(["virus=FAIL"]),
    )
    s3 = stack.client("s3")
    bucket = stack.outputs["rawEmailsBucketName"]
    deadline = time.monotonic() + WAIT
    quarantined: list[Any] = []
    while not quarantined and time.monotonic() < deadline:
        quarantined = s3.list_objects_v2(Bucket=bucket, Prefix=f"quarantine/{sent.message_id}").get(
            "Contents", []
        )
        time.sleep(0.2)
    assert quarantined, "nothing was written to quarantine/"
    raw = s3.get_object(Bucket=bucket, Key=f"raw/{sent.message_id}")["Body"].read()
    assert b"X-SES-Virus-Verdict: FAIL" in raw
    assert b"X-Mailflow-Local-Verdicts" not in raw
    assert (
        wait_for(stack.client("sqs"), stack.outputs["appQueueUrls"]["app1"], with_subject(subject), 2) is None
    )


def test_local_send_injects_a_dmarc_reject_that_the_policy_quarantines(stack: Stack, tmp_path: Path) -> None:
    """`mailflow local send` with chosen verdicts; the example's security.dmarcReject is quarantine."""
    message = tmp_path / "spoofed.eml"
    message.write_bytes(email(f"_app2@{DOMAIN}", f"dmarc {uuid.uuid4().hex}"))
    sent = mailflow(
        stack.home,
        "local",
        "send",
        str(message),
        "--verdict",
        "dmarc=FAIL",
        "--dmarc-policy",
        "reject",
        "--json",
    )
    assert sent.returncode == 0, sent.stderr
    result = json.loads(sent.stdout)
    assert result["accepted"] == [f"_app2@{DOMAIN}"]
    s3, bucket = stack.client("s3"), stack.outputs["rawEmailsBucketName"]
    deadline = time.monotonic() + WAIT
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        found = s3.list_objects_v2(Bucket=bucket, Prefix=f"quarantine/{result['messageId']}").get(
            "Contents", []
        )
        time.sleep(0.2)
    assert found, "the DMARC-rejected message was not quarantined"


def outbound_request(to: str, correlation: str) -> str:
    return json.dumps(
        {
            "version": "1.0",
            "correlationId": correlation,
            "source": "app1",
            "email": {
                "from": {"address": f"_app1@{DOMAIN}"},
                "to": [{"address": to}],
                "subject": f"outbound {correlation}",
                "body": {"text": "hi"},
            },
        }
    )


def test_outbound_is_sent_its_status_arrives_and_it_lands_where_it_should(stack: Stack) -> None:
    sqs = stack.client("sqs")
    local_cid, remote_cid = f"cid-{uuid.uuid4().hex}", f"cid-{uuid.uuid4().hex}"
    sqs.send_message(
        QueueUrl=stack.outputs["outboundQueueUrl"], MessageBody=outbound_request(f"_app2@{DOMAIN}", local_cid)
    )
    sqs.send_message(
        QueueUrl=stack.outputs["outboundQueueUrl"],
        MessageBody=outbound_request("bob@elsewhere.org", remote_cid),
    )
    app1 = stack.outputs["appQueueUrls"]["app1"]
    for cid in (local_cid, remote_cid):
        status = wait_for(
            sqs, app1, lambda b, cid=cid: b.get("type") == "outbound.status" and b.get("correlationId") == cid
        )
        assert status is not None, f"no outbound.status for {cid}"
        assert status["status"] == "sent", status
    delivered = wait_for(sqs, stack.outputs["appQueueUrls"]["app2"], with_subject(f"outbound {local_cid}"))
    assert delivered is not None, "app1's mail to _app2@ was not delivered back through the ingress"
    listed = mailflow(stack.home, "local", "outbox", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    (entry,) = [e for e in entries if e["subject"] == f"outbound {remote_cid}"]
    assert entry["recipients"] == ["bob@elsewhere.org"]
    assert not [e for e in entries if e["subject"] == f"outbound {local_cid}"], (
        "local mail is not in the outbox"
    )
    shown = mailflow(stack.home, "local", "outbox", "--show", str(entry["number"]))
    assert f"Subject: outbound {remote_cid}" in shown.stdout


def test_invocations_log_to_cloudwatch(stack: Stack) -> None:
    logs = stack.client("logs")
    group = f"/aws/lambda/{stack.outputs['lambdaFunctionName']}"
    events = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
    assert events, "no REPORT lines in the function's log group"


def test_an_outbound_message_the_function_keeps_failing_on_ends_in_the_dlq(stack: Stack) -> None:
    """The function fails every attempt (its config is made unreadable), so the ESM leaves the message;
    after outboundMaxReceiveCount (3) receives the queue's redrive policy moves it to the outbound DLQ."""
    lam, sqs = stack.client("lambda"), stack.client("sqs")
    name = stack.outputs["lambdaFunctionName"]
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    dlq = next(url for url in stack.outputs["deadLetterQueueUrls"].values() if url.endswith("-outbound-dlq"))
    lam.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {**variables, "MAILFLOW_CONFIG_PATH": "/nonexistent.json"}},
    )
    try:
        cid = f"poison-{uuid.uuid4().hex}"
        sqs.send_message(
            QueueUrl=stack.outputs["outboundQueueUrl"], MessageBody=outbound_request(f"_app2@{DOMAIN}", cid)
        )
        moved = wait_for(sqs, dlq, lambda b: b.get("correlationId") == cid, timeout=30)
    finally:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    assert moved is not None, "the message did not reach the outbound DLQ"


def test_delete_receipt_rule_works_against_the_emulator(stack: Stack) -> None:
    """moto lacks DeleteReceiptRule; the emulator adds it (moto_patches), for `destroy` and for tests."""
    ses = stack.client("ses")
    ses.create_receipt_rule_set(RuleSetName="scratch-set")
    for name in ("keep", "drop"):
        ses.create_receipt_rule(
            RuleSetName="scratch-set", Rule={"Name": name, "Enabled": True, "Actions": []}
        )
    ses.delete_receipt_rule(RuleSetName="scratch-set", RuleName="drop")
    assert [r["Name"] for r in ses.describe_receipt_rule_set(RuleSetName="scratch-set")["Rules"]] == ["keep"]
    ses.delete_receipt_rule_set(RuleSetName="scratch-set")


def test_starting_twice_is_refused_clearly(stack: Stack) -> None:
    again = mailflow(
        stack.home, "local", "start", "--port", str(free_port()), "--smtp-port", str(free_port())
    )
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert "Traceback" not in again.stderr
    status = mailflow(stack.home, "local", "status", "--json")
    assert status.returncode == 0
    data = json.loads(status.stdout)
    assert data["running"] is True
    assert data["endpoint"] == stack.state.endpoint
    assert data["smtpPort"] == stack.state.smtp_port


def test_the_mailbox_simulator_publishes_ses_events_through_sns_to_sqs(stack: Stack) -> None:
    """A configuration set with an SNS event destination, a queue subscribed to the topic (raw
    delivery), a send to bounce@ and success@ through SES v2: the events SES publishes arrive on the
    queue, and `mailflow local outbox` shows each recipient's outcome."""
    sesv2, sns, sqs = stack.client("sesv2"), stack.client("sns"), stack.client("sqs")
    name = f"simulator-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sesv2.create_configuration_set(ConfigurationSetName=name)
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName=name,
        EventDestinationName="to-sns",
        EventDestination={
            "Enabled": True,
            "MatchingEventTypes": ["DELIVERY", "BOUNCE"],
            "SnsDestination": {"TopicArn": topic},
        },
    )
    sent = sesv2.send_email(
        FromEmailAddress=f"_app1@{DOMAIN}",
        Destination={"ToAddresses": ["bounce@simulator.amazonses.com", "success@simulator.amazonses.com"]},
        Content={"Simple": {"Subject": {"Data": name}, "Body": {"Text": {"Data": "hi"}}}},
        ConfigurationSetName=name,
        EmailTags=[{"Name": "mailflow-app", "Value": "app1"}],
    )
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT
    while len(events) < 2 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            events.append(json.loads(message["Body"]))
    assert sorted(event["eventType"] for event in events) == ["Bounce", "Delivery"]
    assert {event["mail"]["messageId"] for event in events} == {sent["MessageId"]}
    assert {tuple(event["mail"]["tags"]["mailflow-app"]) for event in events} == {("app1",)}
    listed = mailflow(stack.home, "local", "outbox", "--json")
    (entry,) = [e for e in json.loads(listed.stdout) if e["subject"] == name]
    assert entry["outcomes"] == {
        "bounce@simulator.amazonses.com": "bounced (550 5.1.1 user unknown)",
        "success@simulator.amazonses.com": "delivered",
    }
    assert (entry["configuration_set"], entry["events"]) == (name, ["Delivery", "Bounce"])
