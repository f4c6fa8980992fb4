"""Helpers for the operate tests: a stack created by name in moto, sample messages, queue probes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailflow_cli.context import StackContext


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


Cli = Callable[..., CliResult]

HANDLER_SOURCE = "def handler(event, context):\n    return {}\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mailflow_handler/__init__.py", HANDLER_SOURCE)
    return buffer.getvalue()


def create_queues(ctx: StackContext) -> dict[str, str]:
    sqs = ctx.clients.client("sqs")
    names = ctx.names
    urls: dict[str, str] = {}
    for dlq in names.dead_letter_queues:
        urls[dlq] = sqs.create_queue(QueueName=dlq)["QueueUrl"]

    def with_dlq(queue: str, dlq: str, max_receive: int, visibility: int) -> None:
        policy = {"deadLetterTargetArn": names.queue_arn(dlq), "maxReceiveCount": max_receive}
        urls[queue] = sqs.create_queue(
            QueueName=queue,
            Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": str(visibility)},
        )["QueueUrl"]

    queues = ctx.config.queues
    for app in ctx.config.app_names:
        with_dlq(
            names.app_queue(app),
            names.apps_dlq,
            queues.max_receive_count,
            queues.app_visibility_timeout_seconds,
        )
    with_dlq(
        names.default_queue, names.apps_dlq, queues.max_receive_count, queues.app_visibility_timeout_seconds
    )
    with_dlq(names.outbound_queue, names.outbound_dlq, queues.outbound_max_receive_count, 60)
    return urls


def create_stack(ctx: StackContext) -> dict[str, Any]:
    """Queues, bucket, table, role, function, alarm topic, receipt rule set and rule, domain identities."""
    names = ctx.names
    region = ctx.config.region
    urls = create_queues(ctx)
    ctx.clients.client("s3").create_bucket(
        Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    ctx.clients.client("dynamodb").create_table(
        TableName=names.table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = ctx.clients.client("iam").create_role(
        RoleName=names.role, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    ctx.clients.client("lambda").create_function(
        FunctionName=names.function,
        Runtime=ctx.config.lambda_.runtime,
        Role=role_arn,
        Handler="mailflow_handler.handler",
        Code={"ZipFile": _zip()},
        MemorySize=ctx.config.lambda_.memory_mb,
        Timeout=ctx.config.lambda_.timeout_seconds,
        Architectures=[ctx.config.lambda_.architecture],
    )
    ctx.clients.client("sns").create_topic(Name=names.topic)
    ses = ctx.clients.client("ses")
    for domain in ctx.config.domains:
        ses.verify_domain_identity(Domain=domain)
        ses.verify_domain_dkim(Domain=domain)
    ses.create_receipt_rule_set(RuleSetName="mailflow-receipt-rules")
    ses.create_receipt_rule(
        RuleSetName="mailflow-receipt-rules",
        Rule={
            "Name": names.receipt_rule,
            "Enabled": True,
            "Recipients": list(ctx.config.domains),
            "Actions": [
                {"S3Action": {"BucketName": names.bucket, "ObjectKeyPrefix": "raw/"}},
                {"LambdaAction": {"FunctionArn": names.function_arn, "InvocationType": "Event"}},
            ],
        },
    )
    ses.set_active_receipt_rule_set(RuleSetName="mailflow-receipt-rules")
    return {"queues": urls}


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
        "security": {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"},
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
