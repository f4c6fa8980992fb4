from __future__ import annotations

import json
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
    item = aws_env.ddb.get_item(TableName="mf-idempotency", Key={"id": {"S": f"inbound#{ses_id}"}})["Item"]
    assert item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > time.time() + 86000
    assert "in_progress_expiration" in item
    data = json.loads(item["data"]["S"])
    assert data["done"] == ["app1"]
    assert set(data["sqsMessageIds"]) == {"app1"}


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
    store.acquire(f"inbound#{ses_id}")
    with pytest.raises(InProgressError):
        handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert aws_env.drain("app1") == []
    assert aws_env.drain("inboundDlq") == []


def _writes(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in ("put_item", "update_item", "delete_item"):
        real = getattr(ddb, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ddb, name, counted)
    return calls


def test_two_writes_per_email_whatever_the_number_of_apps(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com", "_app2@example.com", "_zz@example.com"]))
    handler(event, None)  # creates the clients
    writes = _writes(clients.client("dynamodb"), monkeypatch)
    ses_id2 = aws_env.put_raw(simple_mime())
    handler(
        ses_event(ses_record(ses_id2, ["_app1@example.com", "_app2@example.com", "_zz@example.com"])), None
    )
    assert len(writes) == 2
    writes.clear()
    handler(event, None)  # a redelivery: one conditional write that fails (record COMPLETED), then a read
    assert writes == ["update_item"]


def test_partial_record_lists_what_is_done(aws_env: Env) -> None:
    now = [1_700_000_000.0]
    store = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120, clock=lambda: now[0])
    assert store.acquire("p").data is None
    store.release("p", {"done": ["a"]})
    claim = store.acquire("p")
    assert claim.acquired
    assert claim.data == {"done": ["a"]}
    with pytest.raises(InProgressError):
        store.acquire("p")
    now[0] += 121  # the attempt crashed: its lock expires, the done list survives
    claim = store.acquire("p")
    assert claim.acquired
    assert claim.data == {"done": ["a"]}
    store.release("p")
    assert store.acquire("p").data is None
    store.complete("p", {"done": ["a", "b"]}, partial=True)
    now[0] += 3601  # an expired record's data is not trusted, even after a crashed takeover
    assert store.acquire("p").data is None
    now[0] += 121
    assert store.acquire("p").data is None
