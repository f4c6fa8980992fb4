from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import clients, handler
from mailflow_handler.errors import InProgressError
from mailflow_handler.idempotency import IdempotencyStore

from .conftest import QUEUES, Env, ses_event, ses_record, simple_mime


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, operation)


def test_redelivered_ses_event_produces_nothing_new(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com", "_app2@example.com", "_zz@example.com"]))
    handler(event, None)
    first = {k: len(v) for k, v in aws_env.drain_all().items() if v}
    assert first == {"app1": 1, "app2": 1, "default": 1}
    handler(event, None)
    clients.reset()
    handler(event, None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}


def test_redelivery_skips_s3_read_when_all_targets_done(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com"]))
    handler(event, None)
    aws_env.s3.delete_object(Bucket="mailflow-test-bucket", Key=f"raw/{ses_id}")
    handler(event, None)
    assert aws_env.drain("app1")
    assert aws_env.drain("inboundDlq") == []


def test_idempotency_record_shape(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    item = aws_env.ddb.get_item(TableName="mf-idempotency", Key={"id": {"S": f"inbound#{ses_id}#app#app1"}})[
        "Item"
    ]
    assert item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > time.time() + 86000
    assert "in_progress_expiration" in item
    assert "sqsMessageId" in item["data"]["S"]


def test_partial_failure_retries_only_missing_target(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com", "_app2@example.com"]))
    sqs = clients.client("sqs")
    real_send = sqs.send_message
    calls: list[str] = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(kwargs["QueueUrl"])
        if kwargs["QueueUrl"].endswith(QUEUES["app2"]):
            raise throttled("SendMessage")
        return real_send(**kwargs)

    monkeypatch.setattr(sqs, "send_message", flaky)
    with pytest.raises(ClientError):
        handler(event, None)
    assert len(aws_env.drain("app1")) == 1
    assert aws_env.drain("app2") == []
    monkeypatch.setattr(sqs, "send_message", real_send)
    handler(event, None)
    assert aws_env.drain("app1") == []
    assert len(aws_env.drain("app2")) == 1
    assert aws_env.drain("inboundDlq") == []


def test_transient_s3_error_raises_for_lambda_retry(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com"]))
    s3 = clients.client("s3")
    real_get = s3.get_object
    monkeypatch.setattr(s3, "get_object", lambda **kw: (_ for _ in ()).throw(throttled("GetObject")))
    with pytest.raises(ClientError):
        handler(event, None)
    monkeypatch.setattr(s3, "get_object", real_get)
    handler(event, None)
    assert len(aws_env.drain("app1")) == 1


def test_missing_raw_object_goes_to_dlq_once(aws_env: Env, failure_validator: Any) -> None:
    event = ses_event(ses_record("does-not-exist", ["_app1@example.com"]))
    handler(event, None)
    handler(event, None)
    dlq = aws_env.drain("inboundDlq")
    assert len(dlq) == 1
    failure_validator.validate(dlq[0])
    assert dlq[0]["reason"] == "raw_missing"
    assert dlq[0]["sesMessageId"] == "does-not-exist"
    assert dlq[0]["s3ObjectKey"] == "raw/does-not-exist"
    assert dlq[0]["targets"] == ["app1"]
    assert aws_env.drain("app1") == []


def test_invalid_ses_record_goes_to_dlq(aws_env: Env) -> None:
    handler(
        {"Records": [{"eventSource": "aws:ses", "ses": {"mail": {"messageId": "../x"}, "receipt": {}}}]}, None
    )
    dlq = aws_env.drain("inboundDlq")
    assert [d["reason"] for d in dlq] == ["invalid_event"]


def test_in_progress_lock_blocks_then_expires(aws_env: Env) -> None:
    now = [1_700_000_000.0]
    store = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: now[0])
    assert store.acquire("k").acquired
    with pytest.raises(InProgressError):
        store.acquire("k")
    now[0] += 121
    assert store.acquire("k").acquired
    store.complete("k", {"x": 1})
    claim = store.acquire("k")
    assert not claim.acquired
    assert claim.data == {"x": 1}
    now[0] += 3601
    assert store.acquire("k").acquired


def test_concurrent_attempt_is_transient(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    store = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120)
    store.acquire(f"inbound#{ses_id}#app#app1")
    with pytest.raises(InProgressError):
        handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert aws_env.drain("app1") == []
    assert aws_env.drain("inboundDlq") == []
