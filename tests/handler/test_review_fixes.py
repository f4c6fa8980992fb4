"""Regression tests for the review findings (S*/C* in the handler review)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailflow_handler import handler
from mailflow_handler.config import ConfigError, parse_config
from mailflow_handler.outbound.send import REASON_TEXTS

from .conftest import BUCKET, Env, make_config, outbound_log_errors, outbound_request, sent_emails, sqs_event

EXAMPLE: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "review-1",
    "source": "app1",
    "email": {
        "from": {"address": "_app1@example.com"},
        "to": [{"address": "recipient@example.com"}],
        "subject": "s",
        "body": {"text": "t"},
    },
}


def request(**email: Any) -> dict[str, Any]:
    return outbound_request(EXAMPLE, **email)


def with_sender_id(event: dict[str, Any], sender_id: str | None) -> dict[str, Any]:
    for record in event["Records"]:
        if sender_id is None:
            record["attributes"].pop("SenderId", None)
        else:
            record["attributes"]["SenderId"] = sender_id
    return event


def _apps_with_sender_ids(ids: list[str]) -> dict[str, Any]:
    apps = make_config()["apps"]
    apps["app1"]["senderIds"] = ids
    return apps


# S1: the SQS SenderId must be one of the claimed app's senderIds.


@pytest.mark.parametrize("sender_id", ["AROAOTHERAPP999:session", "AROAEXAMPLE1234", "AIDAEXAMPLE123X", None])
def test_s1_foreign_principal_cannot_send_as_app(aws_env: Env, sender_id: str | None) -> None:
    aws_env.write_config(apps=_apps_with_sender_ids(["AROAEXAMPLE123", "AIDAEXAMPLE123"]))
    event = with_sender_id(sqs_event([EXAMPLE]), sender_id)
    assert handler(event, None) == {"batchItemFailures": []}
    assert sent_emails() == []
    # Nothing on the claimed app's queue (review finding 11): the attempt goes to the operators' DLQ.
    assert aws_env.drain("app1") == []
    (failure,) = aws_env.drain("outboundDlq")
    assert failure["reason"] == "unauthorised_principal"
    assert failure["senderId"] == sender_id


@pytest.mark.parametrize("sender_id", ["AROAEXAMPLE123:lambda-session", "AIDAEXAMPLE123"])
def test_s1_listed_principal_sends(aws_env: Env, sender_id: str) -> None:
    aws_env.write_config(apps=_apps_with_sender_ids(["AROAEXAMPLE123", "AIDAEXAMPLE123"]))
    assert handler(with_sender_id(sqs_event([EXAMPLE]), sender_id), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    assert aws_env.drain("app1")[0]["status"] == "sent"


def test_s1_without_sender_ids_any_principal_sends(aws_env: Env) -> None:
    aws_env.write_config(apps=_apps_with_sender_ids([]))
    assert handler(with_sender_id(sqs_event([EXAMPLE]), "AROASOMEONE:x"), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1


def test_s1_sender_ids_must_be_a_list_of_ids() -> None:
    doc = make_config()
    doc["apps"]["app1"]["senderIds"] = "AROAEXAMPLE123"
    with pytest.raises(ConfigError):
        parse_config(doc)
    doc["apps"]["app1"]["senderIds"] = ["AROAEXAMPLE123"]
    assert parse_config(doc).apps["app1"].sender_ids == ("AROAEXAMPLE123",)


# S2: attachments only from the sending app's own folder; no empty or unterminated source prefixes.


def test_s2_app_cannot_attach_another_apps_upload(aws_env: Env) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app2/secret.pdf", Body=b"%PDF app2")
    doc = request(attachments=[{"bucket": BUCKET, "key": "outbound/app2/secret.pdf", "filename": "s.pdf"}])
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    assert sent_emails() == []
    assert aws_env.drain("app1")[0]["error"]["reason"] == "attachment_not_allowed"


def test_s2_app_attaches_its_own_upload(aws_env: Env) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/own.pdf", Body=b"%PDF app1")
    doc = request(attachments=[{"bucket": BUCKET, "key": "outbound/app1/own.pdf", "filename": "o.pdf"}])
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1


def test_s2_extra_source_keeps_prefix_matching(aws_env: Env) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="shared/logo.png", Body=b"\x89PNG")
    aws_env.write_config(
        outbound={
            "attachmentSources": [
                {"bucket": BUCKET, "prefix": "outbound/"},
                {"bucket": BUCKET, "prefix": "shared/"},
            ]
        }
    )
    doc = request(attachments=[{"bucket": BUCKET, "key": "shared/logo.png", "filename": "logo.png"}])
    assert handler(sqs_event([doc]), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1


@pytest.mark.parametrize("prefix", ["", "outbound", None])
def test_s2_source_prefix_must_be_non_empty_and_end_in_slash(prefix: str | None) -> None:
    source: dict[str, Any] = {"bucket": BUCKET}
    if prefix is not None:
        source["prefix"] = prefix
    with pytest.raises(ConfigError):
        parse_config(make_config(outbound={"attachmentSources": [source]}))


# C1: an unsafe (e.g. non-ASCII) attachment content type becomes application/octet-stream.


def test_c1_non_ascii_content_type_is_octet_stream(aws_env: Env) -> None:
    from .conftest import ses_event, ses_record

    raw = (
        b"From: a@sender.org\r\nTo: _app1@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b'--b\r\nContent-Type: application/p\xe9df\r\nContent-Disposition: attachment; filename="x.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
    )
    ses_id = aws_env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert aws_env.drain("inboundDlq") == []
    messages = aws_env.drain("app1")
    assert len(messages) == 1
    atts = messages[0]["email"]["attachments"]
    assert [a["contentType"] for a in atts] == ["application/octet-stream"]
    stored = aws_env.s3.get_object(Bucket=BUCKET, Key=atts[0]["s3Key"])
    assert stored["ContentType"] == "application/octet-stream"
    assert stored["Body"].read() == b"%PDF-"


def test_c1_upload_never_sends_an_unsafe_content_type() -> None:
    from email.message import Message

    from mailflow_handler.inbound.attachments import store_attachments
    from mailflow_handler.inbound.parse import AttachmentPart

    part = Message()
    part.set_payload(b"data".decode())
    calls: list[dict[str, Any]] = []

    class S3:
        def put_object(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    att = AttachmentPart(part, "application/p\ufffddf", "x.pdf", None, "attachment", False)
    store_attachments(
        [att], S3(), bucket=BUCKET, prefix="attachments/", ses_message_id="sesid", apps=["a"], app_slot="a"
    )
    assert calls[0]["ContentType"] == "application/octet-stream"


# C2: only network failures among BotoCoreErrors are transient.


def test_c2_only_network_botocore_errors_are_transient() -> None:
    from botocore import exceptions as bce

    from mailflow_handler.errors import is_transient

    transient = [
        bce.EndpointConnectionError(endpoint_url="https://x"),
        bce.ConnectTimeoutError(endpoint_url="https://x"),
        bce.ReadTimeoutError(endpoint_url="https://x"),
        bce.ConnectionClosedError(endpoint_url="https://x"),
        bce.ResponseStreamingError(error="reset"),
        bce.IncompleteReadError(actual_bytes=1, expected_bytes=2),
    ]
    permanent = [
        bce.HTTPClientError(error=UnicodeEncodeError("latin-1", "\ufffd", 0, 1, "x")),
        bce.ParamValidationError(report="bad"),
        bce.NoRegionError(),
        bce.NoCredentialsError(),
    ]
    assert [is_transient(e) for e in transient] == [True] * len(transient)
    assert [is_transient(e) for e in permanent] == [False] * len(permanent)


# C3: SES is never retried by botocore, and an unknown outcome keeps the lock.


def test_c3_ses_client_makes_one_attempt_with_a_long_read_timeout(aws_env: Env) -> None:
    from mailflow_handler import clients

    ses = clients.client("sesv2")
    # botocore turns retries.max_attempts (retries after the first call) into total_max_attempts
    assert ses.meta.config.retries["total_max_attempts"] == 1
    assert ses.meta.config.read_timeout >= 60
    assert clients.client("sqs").meta.config.retries["total_max_attempts"] > 1


def _record(aws_env: Env, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = aws_env.ddb.get_item(
        TableName="mf-idempotency", Key={"id": {"S": key}}
    ).get("Item")
    return item


def test_c3_read_timeout_on_send_keeps_the_lock(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ReadTimeoutError

    from mailflow_handler import clients

    ses = clients.client("sesv2")

    def timeout(**kwargs: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    monkeypatch.setattr(ses, "send_email", timeout)
    event = sqs_event([EXAMPLE])
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    item = _record(aws_env, "outbound#app1#review-1")
    assert item is not None
    assert item["status"]["S"] == "INPROGRESS"
    # An immediate redelivery does not send (the lock is held) and is retried later.
    monkeypatch.undo()
    again = sqs_event([EXAMPLE], receive_count=2)
    assert handler(again, None)["batchItemFailures"] == [{"itemIdentifier": again["Records"][0]["messageId"]}]
    assert sent_emails() == []


def test_c3_connect_failure_releases_the_lock(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    from mailflow_handler import clients

    ses = clients.client("sesv2")

    def refused(**kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    monkeypatch.setattr(ses, "send_email", refused)
    handler(sqs_event([EXAMPLE]), None)
    assert _record(aws_env, "outbound#app1#review-1") is None


# C4: the inbound failure record carries a redrivable event, and a redriven event can dead-letter again.


class _Context:
    function_name = "mailflow-test"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def test_c4_failure_record_is_redrivable_and_redrive_dead_letters_again(
    aws_env: Env, failure_validator: Any
) -> None:
    from .conftest import ses_event, ses_record

    record = ses_record("gone-raw", ["_app1@example.com"])
    handler(ses_event(record), _Context("req-1"))
    handler(ses_event(record), _Context("req-1"))  # Lambda's own retry: same request id, recorded once
    first = aws_env.drain("inboundDlq")
    assert len(first) == 1
    failure_validator.validate(first[0])
    assert first[0]["sesMessageId"] == "gone-raw"
    # `mailflow dlq redrive inbound` invokes the function with the stored record: a new request id.
    handler(aws_env.stored_event("gone-raw"), _Context("req-2"))
    again = aws_env.drain("inboundDlq")
    assert len(again) == 1
    assert again[0]["reason"] == "raw_missing"


# C5: a large non-JSON outbound body still reaches the outbound DLQ, cut, with its size and hash.


def test_c5_large_non_json_body_reaches_the_dlq_truncated(aws_env: Env) -> None:
    import hashlib

    body = "not json " + "\u00e9\U0001f600" * 120_000  # ~0.7 MB UTF-8, ~1.7 MB once JSON-escaped
    event = sqs_event([body])
    assert handler(event, None) == {"batchItemFailures": []}
    dlq = aws_env.drain("outboundDlq")
    assert len(dlq) == 1
    assert dlq[0]["reason"] == "invalid_json"
    assert dlq[0]["originalTruncated"] is True
    assert body.startswith(dlq[0]["original"])
    assert len(dlq[0]["original"]) > 10_000
    data = body.encode("utf-8")
    assert dlq[0]["originalSize"] == len(data)
    assert dlq[0]["originalSha256"] == hashlib.sha256(data).hexdigest()


def test_c5_small_non_json_body_is_kept_whole(aws_env: Env) -> None:
    handler(sqs_event(["{nope"]), None)
    dlq = aws_env.drain("outboundDlq")
    assert dlq[0]["original"] == "{nope"
    assert "originalTruncated" not in dlq[0]


# C6: the lock lasts for the rest of the invocation when known; release only touches our own lock.


def test_c6_lock_expiry_follows_the_remaining_invocation_time(aws_env: Env) -> None:
    from mailflow_handler.idempotency import IdempotencyStore

    store = IdempotencyStore(
        aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: 1000.0, remaining_millis=lambda: 850_000
    )
    store.acquire("k1")
    item = _record(aws_env, "k1")
    assert item is not None
    assert item["in_progress_expiration"]["N"] == str(1000 * 1000 + 850_000)
    fallback = IdempotencyStore(
        aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: 1000.0, remaining_millis=lambda: None
    )
    fallback.acquire("k2")
    item = _record(aws_env, "k2")
    assert item is not None
    assert item["in_progress_expiration"]["N"] == str(1000 * 1000 + 120_000)


def test_c6_handler_uses_the_lambda_context(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailflow_handler import idempotency

    seen: list[int | None] = []
    real = idempotency.IdempotencyStore._lock_millis

    def spy(self: Any) -> int:
        value = real(self)
        seen.append(value)
        return value

    monkeypatch.setattr(idempotency.IdempotencyStore, "_lock_millis", spy)
    handler(sqs_event([EXAMPLE]), _Context("req-c6"))
    assert seen
    assert set(seen) == {600_000}


@pytest.mark.parametrize("done", [None, {"sesMessageId": "x"}])
def test_c6_release_leaves_a_lock_taken_over_by_another_attempt(aws_env: Env, done: Any) -> None:
    from mailflow_handler.idempotency import IdempotencyStore

    now = [1000.0]
    slow = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: now[0])
    fast = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: now[0])
    slow.acquire("k")
    now[0] += 200  # slow's lock expired; another attempt takes the record over
    assert fast.acquire("k").acquired
    slow.release("k", done)
    item = _record(aws_env, "k")
    assert item is not None
    assert item["status"]["S"] == "INPROGRESS"
    assert item["in_progress_expiration"]["N"] == str(1200 * 1000 + 120_000)
    fast.release("k")
    assert _record(aws_env, "k") is None


# C7/C10: a quarantine that cannot copy the raw object dead-letters (raw_missing, or quarantine_failed for any
# other permanent copy error) with the targets.


def test_c7_quarantine_with_missing_raw_is_dead_lettered(aws_env: Env, failure_validator: Any) -> None:
    from .conftest import ses_event, ses_record

    handler(ses_event(ses_record("no-raw-virus", ["_app1@example.com"], virus="FAIL")), None)
    dlq = aws_env.drain("inboundDlq")
    assert len(dlq) == 1
    failure_validator.validate(dlq[0])
    assert dlq[0]["reason"] == "raw_missing"
    assert dlq[0]["targets"] == ["app1"]
    assert aws_env.quarantine_records() == []


def test_c10_failure_during_quarantine_names_the_targets(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from mailflow_handler import clients

    from .conftest import ses_event, ses_record, simple_mime

    ses_id = aws_env.put_raw(simple_mime(to="_app1@example.com, _app2@example.com"))
    s3 = clients.client("s3")
    real = s3.put_object

    def denied(**kwargs: Any) -> Any:
        if kwargs["Key"].startswith("quarantine/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        return real(**kwargs)

    monkeypatch.setattr(s3, "put_object", denied)
    record = ses_record(ses_id, ["_app1@example.com", "_app2@example.com"], spam="FAIL")
    handler(ses_event(record), None)
    dlq = aws_env.drain("inboundDlq")
    assert len(dlq) == 1
    assert sorted(dlq[0]["targets"]) == ["app1", "app2"]


def test_c7_quarantine_copy_denied_is_dead_lettered_not_recorded_without_its_message(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch, failure_validator: Any
) -> None:
    from botocore.exceptions import ClientError

    from mailflow_handler import clients

    from .conftest import ses_event, ses_record, simple_mime

    # app3 only accepts trusted.org: its route is quarantined, app1's is delivered.
    recipients = ["_app1@example.com", "_app3@example.com"]
    ses_id = aws_env.put_raw(simple_mime(to=", ".join(recipients)))
    s3 = clients.client("s3")
    real = s3.copy_object
    copies: list[str] = []

    def denied(**kwargs: Any) -> Any:
        copies.append(kwargs["Key"])
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CopyObject")

    monkeypatch.setattr(s3, "copy_object", denied)
    record = ses_record(ses_id, recipients)
    handler(ses_event(record), None)
    assert copies == [f"quarantine/{ses_id}.eml"]
    dlq = aws_env.drain("inboundDlq")
    assert len(dlq) == 1
    failure_validator.validate(dlq[0])
    assert dlq[0]["reason"] == "quarantine_failed"
    assert "AccessDenied" in dlq[0]["error"]
    assert sorted(dlq[0]["targets"]) == ["app1", "app3"]
    assert aws_env.quarantine_records() == []
    assert aws_env.drain("app1") == []

    # Once the copy works again, replaying the email's stored record quarantines and delivers.
    monkeypatch.setattr(s3, "copy_object", real)
    handler(aws_env.stored_event(ses_id), None)
    (quarantined,) = aws_env.quarantine_records()
    assert quarantined["quarantineObjectKey"] == f"quarantine/{ses_id}.eml"
    assert len(aws_env.drain("app1")) == 1
    assert aws_env.drain("inboundDlq") == []


# C8: a claimed source in another case still gets its failed status. C9: one failed status per request.


def test_c8_mixed_case_source_gets_failed_status(aws_env: Env) -> None:
    doc = request(subject="bad\r\nBcc: x@evil.org")
    doc["source"] = "App1"
    handler(sqs_event([doc]), None)
    status = aws_env.drain("app1")
    assert len(status) == 1
    assert status[0]["status"] == "failed"
    assert status[0]["app"] == "app1"
    assert aws_env.drain("outboundDlq") == []


def test_c9_resent_request_failing_again_gets_a_status_again(aws_env: Env) -> None:
    doc = request(**{"from": {"address": "_app2@example.com"}})
    handler(sqs_event([doc]), None)
    handler(sqs_event([doc]), None)  # a new SQS message with the same correlationId
    statuses = aws_env.drain("app1")
    assert [s["status"] for s in statuses] == ["failed", "failed"]


# S4: no multipart/* or message/* attachments. S5: lone surrogates are invalid. S6: x- in any case.


@pytest.mark.parametrize("content_type", ["multipart/mixed", "Message/rfc822", "message/partial"])
def test_s4_structural_attachment_types_are_rejected(
    aws_env: Env, content_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/a.eml", Body=b"Subject: x\r\n\r\nx")
    attachment = {
        "bucket": BUCKET,
        "key": "outbound/app1/a.eml",
        "filename": "a.eml",
        "contentType": content_type,
    }
    handler(sqs_event([request(attachments=[attachment])]), None)
    assert sent_emails() == []
    status = aws_env.drain("app1")[0]
    assert status["error"] == {"reason": "invalid_message", "message": REASON_TEXTS["invalid_message"]}
    assert "multipart" in outbound_log_errors(capsys.readouterr().out)[0]


@pytest.mark.parametrize(
    "where",
    [
        '"subject": "a\\ud800b"',
        '"body": {"text": "x\\udc00"}',
        '"body": {"text": "t", "html": "\\ud83d"}',
        '"body": {"text": "t"}, '
        '"attachments": [{"bucket": "b", "key": "outbound/app1/\\ud800", "filename": "f"}]',
    ],
)
def test_s5_lone_surrogates_are_a_validation_error(
    aws_env: Env, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = json.dumps({k: v for k, v in EXAMPLE.items() if k != "email"})[:-1]
    email = '"from": {"address": "_app1@example.com"}, "to": ["r@example.com"], "subject": "s", '
    if where.startswith('"subject"'):
        email = email.replace('"subject": "s", ', "") + where + ', "body": {"text": "t"}'
    else:
        email += where
    body = base + ', "email": {' + email + "}}"
    assert handler(sqs_event([body]), None) == {"batchItemFailures": []}
    assert sent_emails() == []
    status = aws_env.drain("app1")[0]
    assert status["error"] == {"reason": "invalid_message", "message": REASON_TEXTS["invalid_message"]}
    assert "surrogate" in outbound_log_errors(capsys.readouterr().out)[0]


def test_s6_lower_case_custom_header_name_is_accepted(aws_env: Env) -> None:
    assert handler(sqs_event([request(headers={"x-ticket": "42"})]), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    assert "x-ticket: 42" in sent_emails()[0].raw_data.lower()


# D1: no unused module-level queue_url. D2: an app whose queue is the apps DLQ is never routed to.


def test_d1_queue_urls_resolve_only_through_deps() -> None:
    from mailflow_handler import clients

    assert not hasattr(clients, "queue_url")


def test_d2_app_queue_equal_to_apps_dlq_is_reserved() -> None:
    from mailflow_handler.inbound.route import app_for

    doc = make_config()
    doc["apps"]["app1"]["queue"] = doc["queues"]["appsDlq"]
    app, _, in_domain = app_for("_app1@example.com", parse_config(doc))
    assert in_domain
    assert app is None
    assert app_for("_app2@example.com", parse_config(doc))[0] == "app2"
