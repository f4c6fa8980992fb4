from __future__ import annotations

import copy
import json
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import clients, handler
from mailflow_handler.outbound.send import REASON_TEXTS

from .conftest import BUCKET, Env, outbound_log_errors, outbound_request, sent_emails, sqs_event

EXAMPLE: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "test-1700000000",
    "timestamp": "2024-01-01T00:00:00Z",
    "source": "app1",
    "email": {
        "from": {"address": "_app1@example.com", "name": "App1"},
        "to": [{"address": "recipient@example.com"}],
        "subject": "Test from Mailflow",
        "body": {"text": "This is a test email sent via Mailflow!"},
    },
}


def request(**email: Any) -> dict[str, Any]:
    return outbound_request(EXAMPLE, **email)


def parsed(raw: Any) -> Any:
    data = raw.raw_data if hasattr(raw, "raw_data") else raw
    return message_from_bytes(data.encode() if isinstance(data, str) else data, policy=default_policy)


def test_user_guide_example_is_sent(aws_env: Env, status_validator: Any, outbound_validator: Any) -> None:
    outbound_validator.validate(EXAMPLE)
    response = handler(sqs_event([EXAMPLE]), None)
    assert response == {"batchItemFailures": []}
    messages = sent_emails()
    assert len(messages) == 1
    assert messages[0].source == "_app1@example.com"
    assert "recipient@example.com" in messages[0].destinations
    mime = parsed(messages[0])
    assert mime["Subject"] == "Test from Mailflow"
    assert mime["From"] == "App1 <_app1@example.com>"
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content_charset() == "utf-8"
    status = aws_env.drain("app1")
    assert len(status) == 1
    status_validator.validate(status[0])
    assert status[0]["status"] == "sent"
    assert status[0]["correlationId"] == "test-1700000000"
    assert status[0]["sesMessageId"] == messages[0].id
    assert status[0]["retry"] is False


def test_snake_case_spelling_is_accepted(aws_env: Env) -> None:
    doc = {
        "version": "1.0",
        "correlation_id": "snake-1",
        "source": "app1",
        "email": {
            "from": {"address": "_app1@example.com"},
            "to": [{"address": "a@dest.org"}],
            "reply_to": {"address": "help@example.com", "name": "Help"},
            "subject": "snake",
            "body": {"text": "t", "html": "<b>h</b>"},
            "headers": {"in_reply_to": "<orig@dest.org>", "references": ["<r1@dest.org>", "r2@dest.org"]},
        },
    }
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    mime = parsed(sent_emails()[0])
    assert mime["Reply-To"] == "Help <help@example.com>"
    assert mime["In-Reply-To"] == "<orig@dest.org>"
    assert mime["References"] == "<r1@dest.org> <r2@dest.org>"
    assert mime.get_content_type() == "multipart/alternative"
    assert aws_env.drain("app1")[0]["correlationId"] == "snake-1"


def test_cc_bcc_go_to_destinations_and_bcc_not_in_headers(aws_env: Env) -> None:
    doc = request(cc=[{"address": "c@dest.org"}], bcc=[{"address": "hidden@dest.org"}])
    handler(sqs_event([doc]), None)
    message = sent_emails()[0]
    assert {"recipient@example.com", "c@dest.org", "hidden@dest.org"} <= set(message.destinations)
    raw = message.raw_data
    assert "hidden@dest.org" not in raw
    assert "Bcc" not in raw


def test_custom_x_headers_and_single_singletons(aws_env: Env) -> None:
    doc = request(headers={"X-Campaign": "spring", "X-Trace-Id": "abc"})
    handler(sqs_event([doc]), None)
    mime = parsed(sent_emails()[0])
    assert mime["X-Campaign"] == "spring"
    names = [k.lower() for k in mime]
    for singleton in ("from", "to", "subject", "date", "mime-version", "content-type"):
        assert names.count(singleton) == 1


def test_attachments_from_allowed_source(aws_env: Env) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/report.pdf", Body=b"%PDF-1.4 data")
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/logo.png", Body=b"\x89PNG data")
    doc = request(
        body={"text": "see attached", "html": '<img src="cid:logo1">'},
        attachments=[
            {
                "bucket": BUCKET,
                "key": "outbound/app1/report.pdf",
                "filename": "report.pdf",
                "content_type": "application/pdf",
            },
            {
                "bucket": BUCKET,
                "key": "outbound/app1/logo.png",
                "filename": "logo.png",
                "contentType": "image/png",
                "contentId": "logo1",
                "disposition": "inline",
            },
        ],
    )
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    mime = parsed(sent_emails()[0])
    parts = {p.get_filename(): p for p in mime.walk() if p.get_filename()}
    assert parts["report.pdf"].get_content() == b"%PDF-1.4 data"
    assert parts["logo.png"]["Content-ID"] == "<logo1>"
    assert parts["logo.png"].get_content_disposition() == "inline"


@pytest.mark.parametrize(
    ("attachment", "reason"),
    [
        ({"bucket": BUCKET, "key": "raw/secret", "filename": "x.bin"}, "attachment_not_allowed"),
        ({"bucket": "other-bucket", "key": "outbound/x", "filename": "x.bin"}, "attachment_not_allowed"),
        ({"bucket": BUCKET, "key": "outbound/app1/missing.pdf", "filename": "x.pdf"}, "attachment_missing"),
        ({"bucket": BUCKET, "key": "outbound/app1/big.bin", "filename": "big.bin"}, "attachments_too_large"),
    ],
)
def test_attachment_failures_are_permanent(aws_env: Env, attachment: dict[str, Any], reason: str) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="raw/secret", Body=b"x")
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/big.bin", Body=b"x" * (1048576 + 1))
    assert handler(sqs_event([request(attachments=[attachment])]), None) == {"batchItemFailures": []}
    assert sent_emails() == []
    status = aws_env.drain("app1")[0]
    assert status["status"] == "failed"
    assert status["retry"] is False
    assert status["error"]["reason"] == reason


def test_sender_must_belong_to_source_app(aws_env: Env, status_validator: Any) -> None:
    doc = request(**{"from": {"address": "_app2@example.com"}})
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    assert sent_emails() == []
    status = aws_env.drain("app1")[0]
    status_validator.validate(status)
    assert status["error"]["reason"] == "sender_not_authorised"


def test_unknown_source_goes_to_outbound_dlq(aws_env: Env) -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["source"] = "ghost"
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    dlq = aws_env.drain("outboundDlq")
    assert len(dlq) == 1
    assert dlq[0]["reason"] == "unknown_source"
    assert json.loads(dlq[0]["original"]) == doc
    assert sent_emails() == []


def test_unparseable_json_goes_to_outbound_dlq(aws_env: Env) -> None:
    assert handler(sqs_event(["{not json"]), None) == {"batchItemFailures": []}
    assert aws_env.drain("outboundDlq")[0]["reason"] == "invalid_json"


def test_more_than_max_recipients_rejected(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    doc = request(
        to=[{"address": f"r{i}@dest.org"} for i in range(40)],
        bcc=[{"address": f"b{i}@dest.org"} for i in range(11)],
    )
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    status = aws_env.drain("app1")[0]
    assert status["error"] == {
        "reason": "too_many_recipients",
        "message": REASON_TEXTS["too_many_recipients"],
    }
    assert "51 recipients" in outbound_log_errors(capsys.readouterr().out)[0]
    assert sent_emails() == []


def test_exactly_max_recipients_passes_validation(aws_env: Env) -> None:
    from mailflow_handler.outbound.validate import validate

    doc = request(to=[{"address": f"r{i}@dest.org"} for i in range(50)])
    assert len(validate(doc, 50).destinations) == 50


def test_redelivered_request_sends_once(aws_env: Env) -> None:
    event = sqs_event([EXAMPLE])
    handler(event, None)
    handler(event, None)
    handler(sqs_event([EXAMPLE]), None)
    assert len(sent_emails()) == 1
    assert len(aws_env.drain("app1")) == 1


def test_same_correlation_id_from_other_app_is_separate(aws_env: Env) -> None:
    other = copy.deepcopy(EXAMPLE)
    other["source"] = "app2"
    other["email"]["from"] = {"address": "_app2@example.com"}
    handler(sqs_event([EXAMPLE, other]), None)
    assert len(sent_emails()) == 2


def test_transient_ses_failure_reported_and_retried(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch, status_validator: Any
) -> None:
    ses = clients.client("sesv2")
    real = ses.send_email
    monkeypatch.setattr(
        ses,
        "send_email",
        lambda **kw: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "x"}}, "SendEmail")
        ),
    )
    good = copy.deepcopy(EXAMPLE)
    bad = request(**{"from": {"address": "_app2@example.com"}})
    bad["correlationId"] = "bad-1"
    event = sqs_event([good, bad], receive_count=1)
    response = handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    statuses = {s["correlationId"]: s for s in aws_env.drain("app1")}
    status_validator.validate(statuses["test-1700000000"])
    assert statuses["test-1700000000"]["status"] == "failed"
    assert statuses["test-1700000000"]["retry"] is True
    assert statuses["bad-1"]["retry"] is False
    monkeypatch.setattr(ses, "send_email", real)
    retry = sqs_event([good], receive_count=2)
    assert handler(retry, None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    assert [s["status"] for s in aws_env.drain("app1")] == ["sent"]


def test_ses_5xx_is_transient(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ses = clients.client("sesv2")
    error = ClientError(
        {"Error": {"Code": "InternalFailure", "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
        "SendEmail",
    )
    monkeypatch.setattr(ses, "send_email", lambda **kw: (_ for _ in ()).throw(error))
    event = sqs_event([EXAMPLE])
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_ses_rejection_is_permanent(aws_env: Env) -> None:
    aws_env.write_config(apps={"app1": {"queue": "mf-app-app1", "senders": ["_app1@unverified.net"]}})
    doc = request(**{"from": {"address": "_app1@unverified.net"}})
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    status = aws_env.drain("app1")[0]
    assert status["retry"] is False
    assert status["error"]["reason"] == "aws:MessageRejected"


def test_status_queue_failure_reports_item(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = clients.client("sqs")
    real = sqs.send_message
    monkeypatch.setattr(
        sqs,
        "send_message",
        lambda **kw: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "SendMessage")
        ),
    )
    event = sqs_event([EXAMPLE])
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    monkeypatch.setattr(sqs, "send_message", real)
    assert handler(event, None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    assert [s["status"] for s in aws_env.drain("app1")] == ["sent"]


def test_injected_subject_end_to_end_sends_nothing(aws_env: Env) -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["subject"] = "=?utf-8?q?hi=0D=0ABcc=3A_evil=40evil=2Eorg?="
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    assert sent_emails() == []
    status = aws_env.drain("app1")[0]
    assert status["error"]["reason"] == "header_injection"
    assert status["retry"] is False


def test_three_idempotency_writes_per_sent_email(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    handler(sqs_event([request(subject="warm-up")]), None)  # creates the clients
    ddb = clients.client("dynamodb")
    writes: list[str] = []
    for name in ("put_item", "update_item", "delete_item"):
        real = getattr(ddb, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            writes.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ddb, name, counted)
    other = request()
    other["correlationId"] = "writes-1"
    handler(sqs_event([other]), None)
    assert writes == ["update_item", "update_item", "update_item"]  # lock, "SES asked" mark, outcome


def test_failed_status_message_is_retried_without_a_second_email(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler(sqs_event([request(subject="warm-up")]), None)
    aws_env.drain("app1")
    before = len(sent_emails())
    sqs = clients.client("sqs")
    real = sqs.send_message

    def failing(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "SendMessage")

    doc = request()
    doc["correlationId"] = "status-retry-1"
    event = sqs_event([doc])
    monkeypatch.setattr(sqs, "send_message", failing)
    response = handler(event, None)
    assert len(response["batchItemFailures"]) == 1
    assert len(sent_emails()) == before + 1
    monkeypatch.setattr(sqs, "send_message", real)
    assert handler(event, None) == {"batchItemFailures": []}
    assert len(sent_emails()) == before + 1
    statuses = aws_env.drain("app1")
    assert [(s["correlationId"], s["status"]) for s in statuses] == [("status-retry-1", "sent")]
    handler(event, None)
    assert len(sent_emails()) == before + 1
    assert aws_env.drain("app1") == []
