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
        self.headers: dict[tuple[str, str], dict[str, Any]] = {}  # ContentType, ContentDisposition, ...
        self.tags: dict[tuple[str, str], list[dict[str, str]]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **headers: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = bytes(Body)
        self.headers[(Bucket, Key)] = headers
        return {"ETag": '"fake"'}

    # Tags are kept per key even without the object: `process()` runs on raw bytes that were never put
    # here, standing for the object SES stored.
    def put_object_tagging(
        self, *, Bucket: str, Key: str, Tagging: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.tags[(Bucket, Key)] = list(Tagging["TagSet"])
        return {}

    def get_object_tagging(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        return {"TagSet": list(self.tags.get((Bucket, Key), []))}

    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        try:
            data = self.objects[(Bucket, Key)]
        except KeyError:
            raise _client_error("NoSuchKey", 404) from None
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def copy_object(
        self, *, Bucket: str, Key: str, CopySource: dict[str, str], TaggingDirective: str = "COPY", **_: Any
    ) -> dict[str, Any]:
        source = (CopySource["Bucket"], CopySource["Key"])
        self.objects[(Bucket, Key)] = self.get_object(Bucket=source[0], Key=source[1])["Body"].getvalue()
        self.headers[(Bucket, Key)] = dict(self.headers.get(source, {}))
        self.tags[(Bucket, Key)] = list(self.tags.get(source, [])) if TaggingDirective == "COPY" else []
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
