"""Shared fixtures: moto-backed AWS, a runtime config in tmp_path, per-container caches reset per test."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mailflow_handler import clients

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = "mailflow-test-bucket"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"

_SESSION = boto3.session.Session()

QUEUES = {
    "app1": "mf-app-app1",
    "app2": "mf-app-app2",
    "app3": "mf-app-app3",
    "default": "mf-default",
    "outbound": "mf-outbound",
    "inboundDlq": "mf-inbound-dlq",
    "appsDlq": "mf-apps-dlq",
    "outboundDlq": "mf-outbound-dlq",
    "sesEvents": "mf-ses-events",
}
CONFIGURATION_SET = "mailflow-test"


def make_config(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "environment": "test",
        "region": REGION,
        "accountId": ACCOUNT,
        "domains": ["example.com", "example.org"],
        "apps": {
            "app1": {"queue": QUEUES["app1"], "senders": ["_app1@example.com"], "allowedSenderDomains": []},
            "app2": {"queue": QUEUES["app2"], "senders": ["_app2@example.com"], "allowedSenderDomains": []},
            "app3": {
                "queue": QUEUES["app3"],
                "senders": ["_app3@example.com"],
                "allowedSenderDomains": ["trusted.org"],
            },
        },
        "queues": {
            k: QUEUES[k] for k in ("default", "outbound", "inboundDlq", "appsDlq", "outboundDlq", "sesEvents")
        },
        "bucket": BUCKET,
        "prefixes": {
            "raw": "raw/",
            "attachments": "attachments/",
            "quarantine": "quarantine/",
            "claims": "claims/",
            "outbound": "outbound/",
        },
        "idempotency": {"table": "mf-idempotency", "ttlSeconds": 86400, "inProgressSeconds": 120},
        "security": {"spamFail": "quarantine", "dmarcReject": "quarantine", "virusFail": "quarantine"},
        "outbound": {
            "attachmentSources": [{"bucket": BUCKET, "prefix": "outbound/"}],
            "maxRecipients": 50,
            "maxAttachmentBytes": 1048576,
        },
        "limits": {"sqsMaxMessageBytes": 262144, "maxHeaderBytes": 262144, "maxHeaderFieldBytes": 65536},
        "feedback": {"configurationSet": CONFIGURATION_SET, "sendEvents": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


@dataclass
class Env:
    s3: Any
    sqs: Any
    ddb: Any
    ses: Any
    config_path: Path
    urls: dict[str, str] = field(default_factory=dict)

    def write_config(self, **overrides: Any) -> None:
        self.config_path.write_text(json.dumps(make_config(**overrides)))
        clients.reset()

    def drain(self, queue_key: str) -> list[dict[str, Any]]:
        url = self.urls[queue_key]
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def drain_all(self) -> dict[str, list[dict[str, Any]]]:
        return {k: self.drain(k) for k in QUEUES}

    def quarantine_records(self) -> list[dict[str, Any]]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/").get("Contents", [])
        return [
            json.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
            for o in listed
            if o["Key"].endswith(".json")
        ]

    def stored_event(self, ses_id: str) -> dict[str, Any]:
        """What `mailflow dlq redrive inbound` replays (contract C2): the `receipt` kept with the email's
        idempotency record, read consistently."""
        item = self.ddb.get_item(
            TableName="mf-idempotency", Key={"id": {"S": f"inbound#{ses_id}"}}, ConsistentRead=True
        )["Item"]
        return {"Records": [json.loads(item["receipt"]["S"])]}

    def put_raw(self, raw: bytes, ses_id: str | None = None) -> str:
        ses_id = ses_id or uuid.uuid4().hex
        self.s3.put_object(Bucket=BUCKET, Key=f"raw/{ses_id}", Body=raw)
        return ses_id


def create_resources(s3: Any, sqs: Any, ddb: Any, ses: Any) -> dict[str, str]:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    urls = {k: sqs.create_queue(QueueName=name)["QueueUrl"] for k, name in QUEUES.items()}
    ddb.create_table(
        TableName="mf-idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ses.verify_domain_identity(Domain="example.com")
    return urls


@pytest.fixture(autouse=True)
def aws_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Env | None]:
    """Moto-backed AWS for every test, except in modules that declare `NEEDS_AWS = False`."""
    if not getattr(request.module, "NEEDS_AWS", True):
        yield None
        return
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    config_path = tmp_path / "mailflow_config.json"
    config_path.write_text(json.dumps(make_config()))
    monkeypatch.setenv("MAILFLOW_CONFIG_PATH", str(config_path))
    clients.reset()
    with mock_aws():
        s3 = _SESSION.client("s3", region_name=REGION)
        sqs = _SESSION.client("sqs", region_name=REGION)
        ddb = _SESSION.client("dynamodb", region_name=REGION)
        ses = _SESSION.client("ses", region_name=REGION)
        urls = create_resources(s3, sqs, ddb, ses)
        yield Env(s3=s3, sqs=sqs, ddb=ddb, ses=ses, config_path=config_path, urls=urls)
    clients.reset()


def ses_record(
    ses_id: str,
    recipients: list[str],
    *,
    source: str = "sender@sender.org",
    spam: str = "PASS",
    virus: str = "PASS",
    spf: str = "PASS",
    dkim: str = "PASS",
    dmarc: str = "PASS",
    dmarc_policy: str | None = None,
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "timestamp": "2024-01-01T00:00:01.000Z",
        "processingTimeMillis": 420,
        "recipients": recipients,
        "spamVerdict": {"status": spam},
        "virusVerdict": {"status": virus},
        "spfVerdict": {"status": spf},
        "dkimVerdict": {"status": dkim},
        "dmarcVerdict": {"status": dmarc},
        "action": {
            "type": "Lambda",
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mailflow-test",
            "invocationType": "Event",
        },
    }
    if dmarc_policy is not None:
        receipt["dmarcPolicy"] = dmarc_policy
    return {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2024-01-01T00:00:00.000Z",
                "source": source,
                "messageId": ses_id,
                "destination": recipients,
                "headersTruncated": False,
                "headers": [{"name": "From", "value": source}],
                "commonHeaders": {"from": [source], "to": recipients, "messageId": "<x@y>", "subject": "s"},
            },
            "receipt": receipt,
        },
    }


def ses_event(record: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [record]}


def sqs_event(bodies: list[Any], *, receive_count: int = 1) -> dict[str, Any]:
    records = []
    for body in bodies:
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "rh",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUES['outbound']}",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def sqs_records(bodies: list[Any], queue: str, *, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event from `queue` (a key of QUEUES), as Lambda's event source mapping delivers it."""
    event = sqs_event(bodies, receive_count=receive_count)
    for record in event["Records"]:
        record["eventSourceARN"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUES[queue]}"
    return event


def simple_mime(
    *,
    subject: str = "Hello",
    body: str = "Hi there",
    to: str = "Someone <_app1@example.com>",
    sender: str = "Alice <alice@sender.org>",
    extra_headers: str = "",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <m1@sender.org>\r\n"
        f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra_headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def load_schema(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / name).read_text()))


def validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="session")
def inbound_validator() -> Any:
    return validator("inbound-email.schema.json")


@pytest.fixture(scope="session")
def status_validator() -> Any:
    return validator("outbound-status.schema.json")


@pytest.fixture(scope="session")
def outbound_validator() -> Any:
    return validator("outbound-email.schema.json")


@pytest.fixture(scope="session")
def failure_validator() -> Any:
    return validator("inbound-failure.schema.json")


@pytest.fixture(scope="session")
def event_validator() -> Any:
    return validator("outbound-event.schema.json")


def sent_emails() -> list[Any]:
    """What the handler sent through SES (moto's record of it)."""
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def outbound_log_errors(out: str) -> list[str]:
    """The `error` of each "outbound email" log line in captured stdout (details apps are not told)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [str(line["error"]) for line in lines if line.get("message") == "outbound email"]


def outbound_request(base: dict[str, Any], **email: Any) -> dict[str, Any]:
    """A copy of the outbound request ``base`` with fields of its ``email`` replaced."""
    doc = copy.deepcopy(base)
    doc["email"].update(email)
    return doc
