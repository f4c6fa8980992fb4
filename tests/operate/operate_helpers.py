"""Helpers for the operate tests: the CLI result type, sample messages, queue probes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


Cli = Callable[..., CliResult]


def inbound_message(app: str, subject: str, *, message_id: str = "<m1@example.org>") -> dict[str, Any]:
    """An inbound.email message as the handler puts it on an app's queue."""
    return {
        "version": "1.0",
        "type": "inbound.email",
        "id": "b6c5e0b2-1",
        "timestamp": "2026-11-27T20:00:00Z",
        "app": app,
        "envelope": {"mailFrom": "alice@example.org", "recipients": [f"_{app}@example.com"]},
        "email": {
            "messageId": message_id,
            "from": {"address": "alice@example.org", "name": "Alice"},
            "to": [{"address": f"_{app}@example.com"}],
            "subject": subject,
            "date": "2026-11-27T20:00:00Z",
            "text": "Hello",
            "html": None,
            "attachments": [
                {"filename": "invoice.pdf", "contentType": "application/pdf", "size": 123456, "s3Key": "a/1"}
            ],
        },
        "security": {
            "spamVerdict": "PASS",
            "virusVerdict": "PASS",
            "spfVerdict": "PASS",
            "dkimVerdict": "GRAY",
            "dmarcVerdict": "FAIL",
            "flagged": True,
            "flags": ["dmarc_fail"],
        },
        "metadata": {"s3Bucket": "bucket", "s3ObjectKey": "raw/1"},
    }


def status_message(correlation_id: str, status: str = "sent") -> dict[str, Any]:
    message: dict[str, Any] = {"type": "outbound.status", "correlationId": correlation_id, "status": status}
    if status == "sent":
        message["sesMessageId"] = "0100-ses-id"
    else:
        message["error"] = {"code": "MessageRejected", "message": "Email address is not verified."}
        message["retry"] = False
    return message


def put(ctx: Any, queue_name: str, body: dict[str, Any] | str) -> None:
    sqs = ctx.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))


def depth(ctx: Any, queue_name: str) -> tuple[int, int]:
    """(visible, in flight)."""
    sqs = ctx.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_letter(ctx: Any, queue_name: str, body: dict[str, Any]) -> None:
    """Put ``body`` on ``queue_name`` and receive it until SQS's redrive policy moves it to the queue's DLQ
    (as a consumer that keeps failing would): the DLQ then reports it with a DeadLetterQueueSourceArn."""
    sqs = ctx.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    for _ in range(1001):  # maxReceiveCount is at most 1000
        if not sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages"):
            return
    raise AssertionError(f"{queue_name} did not dead-letter the message")
