"""In-memory fakes at the boto3 client boundary, plus the runtime config and SES records the handler needs.

The fakes implement just the calls the handler makes, with the same argument names and response shapes,
and keep everything in dictionaries: the benchmark then measures the handler's own CPU, not botocore's.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from typing import Any

DOMAIN = "example.com"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = f"mailflow-bench-{ACCOUNT}-{REGION}"
TABLE = "mailflow-bench-idempotency"


def runtime_document(apps: list[str]) -> dict[str, Any]:
    """The JSON document of docs/runtime-config.md for a stack with ``apps``."""
    return {
        "version": 1,
        "environment": "bench",
        "region": REGION,
        "accountId": ACCOUNT,
        "domains": [DOMAIN],
        "apps": {
            name: {
                "queue": f"mailflow-bench-app-{name}",
                "senders": [f"_{name}@{DOMAIN}"],
                "allowedSenderDomains": [],
            }
            for name in apps
        },
        "queues": {
            "default": "mailflow-bench-default",
            "outbound": "mailflow-bench-outbound",
            "inboundDlq": "mailflow-bench-inbound-dlq",
            "appsDlq": "mailflow-bench-apps-dlq",
            "outboundDlq": "mailflow-bench-outbound-dlq",
        },
        "bucket": BUCKET,
        "idempotency": {"table": TABLE, "ttlSeconds": 86400, "inProgressSeconds": 120},
        "security": {"spamFail": "deliver", "dmarcReject": "quarantine", "virusFail": "quarantine"},
        "outbound": {
            "attachmentSources": [{"bucket": BUCKET, "prefix": "outbound/"}],
            "maxRecipients": 50,
            "maxAttachmentBytes": 10485760,
        },
    }


def ses_record(
    message_id: str, recipients: list[str], source: str = "sender@outside.example"
) -> dict[str, Any]:
    """An SES receipt event record (S3 action already done) with passing verdicts."""
    passed = {"status": "PASS"}
    return {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2026-01-01T00:00:00.000Z",
                "source": source,
                "messageId": message_id,
                "destination": recipients,
                "headersTruncated": False,
                "commonHeaders": {"from": [source], "to": recipients, "subject": "bench"},
            },
            "receipt": {
                "timestamp": "2026-01-01T00:00:00.000Z",
                "processingTimeMillis": 100,
                "recipients": recipients,
                "spamVerdict": passed,
                "virusVerdict": passed,
                "spfVerdict": passed,
                "dkimVerdict": passed,
                "dmarcVerdict": passed,
                "action": {"type": "Lambda", "functionArn": "arn:aws:lambda:::function:bench"},
            },
        },
    }


_ids = itertools.count()


def fresh_id(prefix: str = "bench") -> str:
    """A unique, SES-safe message id."""
    return f"{prefix}-{next(_ids):08d}"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class ConditionalCheckFailed(Exception):
    """Looks like botocore's ClientError to the handler's duck-typed error checks."""

    def __init__(self) -> None:
        super().__init__("ConditionalCheckFailedException")
        self.response = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "condition"}}
        self.operation_name = "PutItem"


class Recorder:
    """Counts calls per ``service.operation``; shared by all fakes of one run."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def hit(self, name: str) -> None:
        self.calls[name] += 1


class FakeS3:
    def __init__(self, recorder: Recorder | None = None, keep: bool = False) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.tags: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.bytes_put = 0
        self._recorder = recorder
        self._keep = keep

    def _hit(self, name: str) -> None:
        if self._recorder is not None:
            self._recorder.hit(f"s3.{name}")

    def put_object(self, Bucket: str, Key: str, Body: bytes | str = b"", **_: Any) -> dict[str, Any]:
        self._hit("PutObject")
        data = Body.encode() if isinstance(Body, str) else Body  # no copy: a 29 MB body stays one buffer
        if self._keep:
            self.objects[(Bucket, Key)] = bytes(data)
        self.bytes_put += len(data)
        return {"ETag": '"' + hashlib.md5(data[:64], usedforsecurity=False).hexdigest() + '"'}

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._hit("GetObject")
        return {"Body": _Body(self.objects[(Bucket, Key)]), "ContentLength": len(self.objects[(Bucket, Key)])}

    def copy_object(self, Bucket: str, Key: str, CopySource: dict[str, str], **_: Any) -> dict[str, Any]:
        self._hit("CopyObject")
        if self._keep:
            self.objects[(Bucket, Key)] = self.objects.get((CopySource["Bucket"], CopySource["Key"]), b"")
        return {}

    def head_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._hit("HeadObject")
        return {"ContentLength": len(self.objects.get((Bucket, Key), b""))}

    def put_object_tagging(self, Bucket: str, Key: str, Tagging: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._hit("PutObjectTagging")
        self.tags[(Bucket, Key)] = list(Tagging["TagSet"])
        return {}

    def get_object_tagging(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._hit("GetObjectTagging")
        return {"TagSet": list(self.tags.get((Bucket, Key), []))}


class FakeSQS:
    def __init__(self, recorder: Recorder | None = None) -> None:
        self.sent: Counter[str] = Counter()
        self.bytes_sent = 0
        self._recorder = recorder
        self._ids = itertools.count()

    def _hit(self, name: str) -> None:
        if self._recorder is not None:
            self._recorder.hit(f"sqs.{name}")

    def get_queue_url(self, QueueName: str, **_: Any) -> dict[str, Any]:
        self._hit("GetQueueUrl")
        return {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QueueName}"}

    def send_message(self, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, Any]:
        self._hit("SendMessage")
        self.sent[QueueUrl] += 1
        self.bytes_sent += len(MessageBody)
        return {"MessageId": f"m-{next(self._ids)}"}


class FakeDynamoDB:
    def __init__(self, recorder: Recorder | None = None) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self._recorder = recorder

    def _hit(self, name: str) -> None:
        if self._recorder is not None:
            self._recorder.hit(f"dynamodb.{name}")

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._hit("PutItem")
        key = Item["id"]["S"]
        if key in self.items:
            raise ConditionalCheckFailed
        self.items[key] = Item
        return {}

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._hit("GetItem")
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item is not None else {}

    def update_item(self, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self._hit("UpdateItem")
        item = self.items.setdefault(Key["id"]["S"], {"id": Key["id"]})
        values = kwargs.get("ExpressionAttributeValues", {})
        if ":completed" in values:
            item["status"] = values[":completed"]
        return {}

    def delete_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._hit("DeleteItem")
        self.items.pop(Key["id"]["S"], None)
        return {}


class FakeSES:
    def __init__(self, recorder: Recorder | None = None) -> None:
        self._recorder = recorder
        self._ids = itertools.count()

    def send_email(self, **_: Any) -> dict[str, Any]:
        if self._recorder is not None:
            self._recorder.hit("sesv2.SendEmail")
        return {"MessageId": f"ses-{next(self._ids)}"}

    def send_raw_email(self, **_: Any) -> dict[str, Any]:
        if self._recorder is not None:
            self._recorder.hit("ses.SendRawEmail")
        return {"MessageId": f"ses-{next(self._ids)}"}
