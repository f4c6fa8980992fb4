"""In-memory fakes at the boto3 client boundary, for benchmarks and tests (never used by the handler).

from mailflow_handler.testing import fake_deps
from mailflow_handler.inbound.pipeline import process
deps = fake_deps(config)            # config: mailflow_handler.config.Config
result = process(raw_bytes, ses_record, deps)
deps.sqs.sent                       # [(queue_url, body), ...]
"""

from __future__ import annotations

import io
import itertools
from typing import Any

from .clients import Deps
from .config import Config


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = bytes(Body)
        return {"ETag": '"fake"'}

    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        try:
            data = self.objects[(Bucket, Key)]
        except KeyError:
            raise _client_error("NoSuchKey", 404) from None
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def copy_object(self, *, Bucket: str, Key: str, CopySource: dict[str, str], **_: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = self.get_object(Bucket=CopySource["Bucket"], Key=CopySource["Key"])[
            "Body"
        ].getvalue()
        return {}


class FakeSQS:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def get_queue_url(self, *, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"https://sqs.fake/123456789012/{QueueName}"}

    def send_message(self, *, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, str]:
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": f"fake-{next(self._ids)}"}


class FakeSES:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, str]:
        self.sent.append(kwargs)
        return {"MessageId": f"ses-{len(self.sent)}"}


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Fake")


def fake_deps(config: Config) -> Deps:
    """Deps with in-memory S3/SQS/SES and no DynamoDB (idempotency off; set `deps.dynamodb` to enable)."""
    return Deps(config=config, s3=FakeS3(), sqs=FakeSQS(), ses=FakeSES(), dynamodb=None)
