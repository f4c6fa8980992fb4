"""The SES events queue and its DLQ in the day-two commands (contract E): tail shows SES's events and the
outbound.event messages apps get, dlq lists, shows, redrives and purges the events DLQ (dlq:events)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from operate_helpers import Cli, dead_letter, depth, put

from mailflow_cli.context import StackContext

EVENTS = "mailflow-dev-ses-events"
EVENTS_DLQ = "mailflow-dev-ses-events-dlq"

# SES's event publishing format for a bounce (docs.aws.amazon.com/ses/latest/dg/
# event-publishing-retrieving-sns-examples.html), sent with Mailflow's message tags.
SES_BOUNCE: dict[str, Any] = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "recipient@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com",
    },
    "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z",
        "source": "_app1@example.com",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": False,
        "tags": {
            "ses:configuration-set": ["mailflow-dev"],
            "mailflow-app": ["app1"],
            "mailflow-cid": ["order-42"],
        },
    },
}
OUTBOUND_EVENT: dict[str, Any] = {
    "version": "1.0",
    "type": "outbound.event",
    "id": "6f1c2e3a-1",
    "timestamp": "2017-08-05T00:41:02.669Z",
    "app": "app1",
    "correlationId": "order-42",
    "sesMessageId": SES_BOUNCE["mail"]["messageId"],
    "event": "bounce",
    "recipients": ["recipient@example.com"],
    "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "recipients": []},
    "complaint": None,
    "delay": None,
}


def test_tail_shows_ses_events_and_the_outbound_events_apps_get(stack: StackContext, cli: Cli) -> None:
    put(stack, EVENTS, SES_BOUNCE)
    shown = cli("tail", "ses-events")
    assert shown.exit_code == 0, shown.stderr
    assert "ses.bounce  ses-events  app=app1" in shown.stdout
    assert depth(stack, EVENTS) == (1, 0)

    put(stack, "mailflow-dev-app-app1", OUTBOUND_EVENT)
    app = cli("tail", "app1")
    assert "● outbound.event  app1" in app.stdout
    assert "To       recipient@example.com" in app.stdout
    assert "Corr. id order-42" in app.stdout
    assert "Outcome  bounce (Permanent/General)" in app.stdout


def test_the_choices_name_the_events_queues(stack: StackContext, cli: Cli) -> None:
    result = cli("tail", "events-please")
    assert result.exit_code == 2
    assert "ses-events" in result.stderr
    assert "dlq:events" in result.stderr


def test_dlq_lists_and_shows_the_events_dlq(stack: StackContext, cli: Cli) -> None:
    dead_letter(stack, EVENTS, SES_BOUNCE)
    listed = {entry["queue"]: entry for entry in json.loads(cli("dlq", "list", "--json").stdout)}
    assert list(listed) == ["dlq:apps", "dlq:outbound", "dlq:inbound", "dlq:events"]
    assert listed["dlq:events"]["messages"] == 1
    assert listed["dlq:events"]["reasons"] == {"ses.bounce app=app1": 1}
    shown = [json.loads(line) for line in cli("dlq", "show", "events", "--json").stdout.splitlines()]
    assert [(d["queue"], d["kind"], d["sourceQueueArn"]) for d in shown] == [
        ("dlq:events", "ses.bounce", f"arn:aws:sqs:eu-west-1:123456789012:{EVENTS}")
    ]


def test_redrive_returns_dead_lettered_events_to_the_events_queue(stack: StackContext, cli: Cli) -> None:
    dead_letter(stack, EVENTS, SES_BOUNCE)
    put(stack, EVENTS_DLQ, {"written": "directly"})  # SQS did not dead-letter it: it stays
    report = json.loads(cli("dlq", "redrive", "events", "--json").stdout)
    assert report["moved"] == {EVENTS: 1}
    assert len(report["left"]) == 1
    assert depth(stack, EVENTS) == (1, 0)
    assert depth(stack, EVENTS_DLQ) == (1, 0)


def test_a_redrive_the_queue_policy_denies_says_who_may_and_keeps_the_messages(
    stack: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS: only the events topic and security.operatorPrincipals may send to the events queue (its
    policy); moto does not evaluate queue policies, so the denial is played here."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def deny_sends(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendMessage" and params["QueueUrl"].endswith(f"/{EVENTS}"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "explicit deny"}}, operation)
        return original(client, operation, params)

    dead_letter(stack, EVENTS, SES_BOUNCE)
    monkeypatch.setattr(BaseClient, "_make_api_call", deny_sends)
    result = cli("dlq", "redrive", "events")
    assert result.exit_code == 1
    assert f"copying the messages back to {EVENTS} was denied (AccessDenied)" in result.stderr
    assert "security.operatorPrincipals" in result.stderr
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert depth(stack, EVENTS_DLQ) == (1, 0)
    assert depth(stack, EVENTS) == (0, 0)


def test_purge_of_the_events_dlq(stack: StackContext, cli: Cli) -> None:
    put(stack, EVENTS_DLQ, SES_BOUNCE)
    result = cli("dlq", "purge", "dlq:events", "--yes", "--json")
    assert json.loads(result.stdout) == {"queue": "dlq:events", "name": EVENTS_DLQ, "purged": 1}
