"""send-test against moto. moto routes no mail, so the handler's part is played by a clock hook that puts
the message the handler would put (the local emulator test covers the real path)."""

from __future__ import annotations

import json
from email import message_from_bytes
from typing import Any

from moto.ses.models import ses_backends
from operate_helpers import Cli, depth, inbound_message, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.operate.timing import FakeClock

APP1 = "mailflow-dev-app-app1"


def last_sent_subject(ctx: StackContext) -> str:
    sent = ses_backends[ctx.clients.account_id()]["eu-west-1"].sent_messages[-1]
    return str(
        message_from_bytes(sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data)[
            "Subject"
        ]
    )


def test_inbound_without_wait_sends_a_marked_email(stack: StackContext, cli: Cli) -> None:
    result = cli("send-test", "app1", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["from"] == "mailflow-test@example.com"
    assert report["to"] == "_app1@example.com"
    assert report["subject"] == f"Mailflow test {report['testId']}"
    assert last_sent_subject(stack) == report["subject"]


def test_inbound_wait_finds_the_exact_email_and_leaves_the_others(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    put(stack, APP1, inbound_message("app1", "Someone else's mail"))

    def handler_delivers(sleeps: int) -> None:
        if sleeps == 2:
            put(stack, APP1, inbound_message("app1", "Another one"))
        if sleeps == 4:
            put(stack, APP1, inbound_message("app1", last_sent_subject(stack)))

    clock.on_sleep = handler_delivers
    result = cli("send-test", "app1", "--domain", "example.org", "--wait", "--json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["delivered"] is True
    assert report["to"] == "_app1@example.org"
    assert report["latencySeconds"] == 4.0
    assert report["message"]["email"]["subject"] == report["subject"]
    assert depth(stack, APP1) == (2, 0)


def test_inbound_wait_times_out_and_says_where_to_look(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    result = cli("send-test", "app1", "--wait", "--timeout", "30s")
    assert result.exit_code == 1
    assert "the test email did not reach mailflow-dev-app-app1 within 30s" in result.stderr
    for place in ("mailflow tail default", "mailflow dlq list", "mailflow logs --since 10m"):
        assert place in result.stderr
    assert clock.time - 1_800_000_000.0 == 30.0


def test_outbound_puts_a_valid_message_and_reports_the_status(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    sqs = stack.clients.client("sqs")
    outbound_url = sqs.get_queue_url(QueueName="mailflow-dev-outbound")["QueueUrl"]
    requests: list[dict[str, Any]] = []

    def handler_sends(sleeps: int) -> None:
        if sleeps == 1:
            message = sqs.receive_message(QueueUrl=outbound_url)["Messages"][0]
            requests.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=outbound_url, ReceiptHandle=message["ReceiptHandle"])
            put(stack, APP1, status_message("someone-else"))
            put(stack, APP1, status_message(requests[0]["correlationId"]))
        if sleeps == 3:  # then SES tells the app what happened (contract E)
            put(stack, APP1, outbound_event(requests[0]["correlationId"], "delivery"))

    clock.on_sleep = handler_sends
    result = cli("send-test", "app1", "--outbound", "--to", "bob@example.net", "--wait")

    assert result.exit_code == 0, result.stderr
    request = requests[0]
    assert request["source"] == "app1"
    assert request["email"]["from"]["address"] == "_app1@example.com"
    assert request["email"]["to"] == [{"address": "bob@example.net"}]
    assert request["correlationId"].startswith("mailflow-test-")
    assert {"version", "timestamp", "email"} <= request.keys()
    assert "Sent by SES after 1.0s (SES message id 0100-ses-id)" in result.stdout
    assert "SES: delivery after 3.0s (delivery; the event was deleted)." in result.stdout
    assert depth(stack, APP1) == (1, 0)


def outbound_event(correlation_id: str, event: str, **detail: Any) -> dict[str, Any]:
    """An outbound.event as the handler puts it on the sending app's queue (contract E)."""
    return {
        "version": "1.0",
        "type": "outbound.event",
        "id": f"e-{event}",
        "timestamp": "2026-11-27T20:00:00Z",
        "app": "app1",
        "correlationId": correlation_id,
        "sesMessageId": "0100-ses-id",
        "event": event,
        "recipients": ["bob@example.net"],
        "bounce": None,
        "complaint": None,
        "delay": None,
        **detail,
    }


def test_outbound_wait_reports_the_bounce_ses_publishes(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    """A Send event (outbound.feedback.sendEvents) says nothing new: the wait goes on to the bounce."""
    sqs = stack.clients.client("sqs")
    outbound_url = sqs.get_queue_url(QueueName="mailflow-dev-outbound")["QueueUrl"]
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "recipients": [{"address": "bob@example.net", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
    }

    def handler_and_ses(sleeps: int) -> None:
        if sleeps == 1:
            body = json.loads(sqs.receive_message(QueueUrl=outbound_url)["Messages"][0]["Body"])
            put(stack, APP1, status_message(body["correlationId"]))
            put(stack, APP1, outbound_event(body["correlationId"], "send"))
            put(stack, APP1, outbound_event(body["correlationId"], "bounce", bounce=bounce))

    clock.on_sleep = handler_and_ses
    result = cli("send-test", "app1", "--outbound", "--to", "bob@example.net", "--wait", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["event"]["event"] == "bounce"
    assert report["eventLatencySeconds"] >= report["latencySeconds"]
    assert depth(stack, APP1) == (1, 0)  # the Send event stays; the status and the bounce were deleted


def test_outbound_wait_without_an_event_says_where_to_look(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    sqs = stack.clients.client("sqs")
    outbound_url = sqs.get_queue_url(QueueName="mailflow-dev-outbound")["QueueUrl"]

    def handler_only(sleeps: int) -> None:
        if sleeps == 1:
            body = json.loads(sqs.receive_message(QueueUrl=outbound_url)["Messages"][0]["Body"])
            put(stack, APP1, status_message(body["correlationId"]))

    clock.on_sleep = handler_only
    result = cli("send-test", "app1", "--outbound", "--to", "bob@example.net", "--wait", "--timeout", "30s")
    assert result.exit_code == 1
    assert "Sent by SES after 1.0s" in result.stdout
    assert "SES accepted the test email (SES message id 0100-ses-id), but no delivery or bounce event" in (
        result.stderr
    )
    for place in ("mailflow tail ses-events", "mailflow dlq show events", "outbound event"):
        assert place in result.stderr
    assert clock.time - 1_800_000_000.0 == 30.0


def test_outbound_reports_a_failed_status(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    sqs = stack.clients.client("sqs")
    outbound_url = sqs.get_queue_url(QueueName="mailflow-dev-outbound")["QueueUrl"]

    def handler_fails(sleeps: int) -> None:
        if sleeps == 1:
            body = json.loads(sqs.receive_message(QueueUrl=outbound_url)["Messages"][0]["Body"])
            put(stack, APP1, status_message(body["correlationId"], "failed"))

    clock.on_sleep = handler_fails
    result = cli("send-test", "app1", "--outbound", "--to", "bob@example.net", "--wait", "--json")
    assert json.loads(result.stdout)["message"]["status"] == "failed"


def test_outbound_needs_a_recipient(stack: StackContext, cli: Cli) -> None:
    result = cli("send-test", "app1", "--outbound")
    assert result.exit_code == 2
    assert "--outbound needs --to ADDRESS" in result.stderr


def test_unknown_app_lists_the_configured_apps(stack: StackContext, cli: Cli) -> None:
    result = cli("send-test", "billing")
    assert result.exit_code == 2
    assert "'billing' is not an app of the stack mailflow-dev" in result.stderr
    assert "configured apps: app1, app2" in result.stderr


def test_unknown_domain_is_refused(stack: StackContext, cli: Cli) -> None:
    result = cli("send-test", "app1", "--domain", "example.net")
    assert result.exit_code == 2
    assert "example.net is not one of the stack's domains" in result.stderr


def test_unverified_sender_is_explained(stack: StackContext, cli: Cli) -> None:
    result = cli("send-test", "app1", "--from", "someone@unverified.net")
    assert result.exit_code == 1
    assert "SES refused to send from someone@unverified.net" in result.stderr
    assert "mailflow verify-domain unverified.net" in result.stderr


def test_missing_stack(ghost: StackContext, cli: Cli) -> None:
    result = cli("send-test", "app1")
    assert result.exit_code == 1
    assert "the stack mailflow-ghost is not deployed in eu-west-1" in result.stderr


def test_status_only_stops_at_the_status(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    sqs = stack.clients.client("sqs")
    outbound_url = sqs.get_queue_url(QueueName="mailflow-dev-outbound")["QueueUrl"]

    def handler_only(sleeps: int) -> None:
        if sleeps == 1:
            body = json.loads(sqs.receive_message(QueueUrl=outbound_url)["Messages"][0]["Body"])
            put(stack, APP1, status_message(body["correlationId"]))

    clock.on_sleep = handler_only
    result = cli(
        "send-test", "app1", "--outbound", "--to", "bob@example.net", "--wait", "--status-only", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert "event" not in json.loads(result.stdout)
    assert len(clock.slept) == 1
    refused = cli("send-test", "app1", "--status-only")
    assert refused.exit_code == 2
    assert "--status-only is only for --outbound --wait" in refused.stderr
