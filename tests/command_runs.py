"""Every day-two command that calls AWS, once each, with something for it to act on. Shared by the test
that checks each command's calls against its own declared policy (tests/operate/test_command_permissions.py)
and the IAM-enforced lifecycle (tests/e2e/test_deploy_permissions.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from mailflow_cli.naming import RAW_PREFIX, StackNames

DOMAIN = "example.com"
SES_ID = "0100019aperm0000ses000000001"

DAY_TWO: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("plan", ("plan",)),
    ("outputs", ("outputs",)),
    ("status", ("status",)),
    ("logs", ("logs",)),
    ("tail", ("tail", "app1")),
    ("wait", ("wait", "app1", "--match", "$.type=inbound.email", "--timeout", "5s")),
    ("wait", ("wait", "app1", "--match", "$.app=app1", "--delete", "--timeout", "5s")),
    ("tail", ("tail", "app1", "--delete")),
    ("dlq list", ("dlq", "list")),
    ("dlq show", ("dlq", "show")),
    ("dlq redrive", ("dlq", "redrive", "apps")),
    ("dlq redrive", ("dlq", "redrive", "inbound")),
    ("dlq purge", ("dlq", "purge", "outbound", "--yes")),
    ("verify-domain", ("verify-domain", DOMAIN)),
    ("verify-domain --route53", ("verify-domain", DOMAIN, "--route53")),
    ("send-test", ("send-test", "app1")),
    ("send-test", ("send-test", "app1", "--outbound", "--to", "someone@example.net")),
    ("trace", ("trace", SES_ID)),
    ("trace", ("trace", "someone@example.net")),
    ("replay", ("replay", "--since", "1h", "--yes")),
    ("doctor", ("doctor", "--no-dns")),
    ("suppression add", ("suppression", "add", "bounced@example.net", "--reason", "BOUNCE")),
    ("suppression list", ("suppression", "list")),
    ("suppression check", ("suppression", "check", "bounced@example.net")),
    ("suppression remove", ("suppression", "remove", "bounced@example.net", "--yes")),
    ("app-policy", ("app-policy", "app1")),
    ("permissions", ("permissions",)),
)
"""(the command as ``--commands`` names it, its arguments), in an order in which each finds its work."""


def ses_record(ses_id: str) -> dict[str, Any]:
    """An SES record as the handler stores it with an email's idempotency item (contract C2)."""
    verdicts = {f"{name}Verdict": {"status": "PASS"} for name in ("spam", "virus", "spf", "dkim", "dmarc")}
    recipients = [f"_app1@{DOMAIN}"]
    return {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2026-11-27T20:00:00.000Z",
                "source": "alice@example.org",
                "messageId": ses_id,
                "destination": recipients,
                "commonHeaders": {"messageId": "<m1@example.org>"},
            },
            "receipt": {
                "timestamp": "2026-11-27T20:00:00.000Z",
                "recipients": recipients,
                **verdicts,
                "action": {"type": "Lambda", "invocationType": "Event"},
            },
        },
    }


def seed(client: Callable[[str], Any], names: StackNames) -> None:
    """Work for each command: a message SQS dead-lettered from app1's queue, then one on that queue; an
    email the handler failed (its stored record, its raw mail, its inbound.failure entry); a message in
    the outbound DLQ. The domain's hosted zone is created by :func:`hosted_zone`."""
    sqs = client("sqs")

    def url(queue: str) -> str:
        return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])

    app1 = url(names.app_queue("app1"))
    sqs.send_message(QueueUrl=app1, MessageBody=json.dumps({"type": "inbound.email", "app": "app1"}))
    for _ in range(1001):  # maxReceiveCount is at most 1000: then SQS moves it to the apps DLQ
        if not sqs.receive_message(QueueUrl=app1, VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages"):
            break
    sqs.send_message(QueueUrl=app1, MessageBody=json.dumps({"type": "inbound.email", "app": "app1"}))
    client("dynamodb").put_item(
        TableName=names.table,
        Item={
            "id": {"S": f"inbound#{SES_ID}"},
            "status": {"S": "PARTIAL"},
            "expiration": {"N": str(int(time.time()) + 86400)},
            "receipt": {"S": json.dumps(ses_record(SES_ID))},
        },
    )
    client("s3").put_object(
        Bucket=names.bucket, Key=f"{RAW_PREFIX}{SES_ID}", Body=b"Subject: x\r\n\r\nhi\r\n"
    )
    failure = {
        "version": "1.1",
        "type": "inbound.failure",
        "reason": "internal_error",
        "sesMessageId": SES_ID,
    }
    sqs.send_message(QueueUrl=url(names.inbound_dlq), MessageBody=json.dumps(failure))
    sqs.send_message(QueueUrl=url(names.outbound_dlq), MessageBody=json.dumps({"type": "outbound.status"}))


def hosted_zone(client: Callable[[str], Any]) -> None:
    client("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"mailflow-{DOMAIN}")
