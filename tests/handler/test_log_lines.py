"""Contract L: the handler's log lines say where each email went, so `mailflow trace` can answer from them.

Addresses never appear in clear: each is a keyed hash in `addressHashes` (one space-separated string)
and `***@domain` where a human reads it. The key is an item of the idempotency table, made once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import addresses, clients, handler

from .conftest import QUEUES, Env, ses_event, ses_record, simple_mime, sqs_event

KEY_ID = {"id": {"S": "config#address-hash-key"}}


def lines(out: str, message: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in parsed if line.get("message") == message]


def table_key(env: Env) -> bytes:
    item = env.ddb.get_item(TableName="mf-idempotency", Key=KEY_ID, ConsistentRead=True)["Item"]
    return base64.b64decode(item["key"]["S"])


def expected_hash(key: bytes, address: str) -> str:
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def test_the_key_is_made_once_never_expires_and_is_shared(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    item = aws_env.ddb.get_item(TableName="mf-idempotency", Key=KEY_ID, ConsistentRead=True)["Item"]
    assert set(item) == {"id", "key"}  # no expiration: the table's TTL never removes it
    key = table_key(aws_env)
    assert len(key) == 32
    clients.reset()  # another container reads the same key
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_APP1@Example.com "])), None)
    first, second = lines(capsys.readouterr().out, "inbound email")
    assert first["addressHashes"] == second["addressHashes"]  # the hash ignores case and spaces
    assert first["addressHashes"].split() == [
        expected_hash(key, "sender@sender.org"),
        expected_hash(key, "_app1@example.com"),
    ]


def test_the_key_is_read_once_per_container(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    calls: list[str] = []
    clients.client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.*", lambda params, **_: calls.append(params["Key"]["id"]["S"])
    )
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    assert "config#address-hash-key" not in calls
    first, second = lines(capsys.readouterr().out, "inbound email")
    assert (
        first["addressHashes"]
        == second["addressHashes"]
        == " ".join(expected_hash(table_key(aws_env), a) for a in ("sender@sender.org", "_app1@example.com"))
    )


def test_two_containers_racing_to_make_the_key_agree_on_the_first(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser's conditional PutItem fails (attribute_not_exists) and it reads the winner's key."""
    winner = base64.b64encode(b"w" * 32).decode()
    ddb = clients.client("dynamodb")
    real_get = ddb.get_item
    reads: list[int] = []

    def get_then_lose(**kwargs: Any) -> Any:
        reads.append(1)
        found = real_get(**kwargs)
        if len(reads) == 1:  # the other container writes its key after our read
            aws_env.ddb.put_item(TableName="mf-idempotency", Item={**KEY_ID, "key": {"S": winner}})
        return found

    monkeypatch.setattr(ddb, "get_item", get_then_lose)
    assert addresses.load_key(ddb, "mf-idempotency") == b"w" * 32
    assert len(reads) == 2


def test_a_key_that_cannot_be_read_never_fails_the_email(
    aws_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = clients.client("dynamodb")

    def broken(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")

    monkeypatch.setattr(ddb, "get_item", broken)
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    assert len(aws_env.drain("app1")) == 1
    out = capsys.readouterr().out
    assert lines(out, "inbound email")[0]["addressHashes"] is None
    assert lines(out, "address hash key unavailable")


def test_the_inbound_line_says_where_each_target_went(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    recipients = ["_app1+ticket-7@example.com", "_default@example.com", "nobody@example.com"]
    handler(ses_event(ses_record(ses_id, recipients)), None)
    queued = {
        k: [m["MessageId"] for m in aws_env.sqs.receive_message(QueueUrl=aws_env.urls[k]).get("Messages", [])]
        for k in ("app1", "default")
    }
    out = capsys.readouterr().out
    (line,) = lines(out, "inbound email")
    assert line["sesMessageId"] == ses_id
    assert line["messageId"] == "x@y"  # commonHeaders.messageId "<x@y>", without the brackets
    assert line["receivedAt"] == "2024-01-01T00:00:01.000Z"
    assert line["rawKey"] == f"raw/{ses_id}"
    assert line["mailFrom"] == "***@sender.org"
    assert line["routes"] == [
        {
            "app": "app1",
            "queue": QUEUES["app1"],
            "why": "app",
            "tag": "ticket-7",
            "sqsMessageId": queued["app1"][0],
            "claimCheck": False,
            "outcome": "delivered",
        },
        {
            "app": "default",
            "queue": QUEUES["default"],
            "why": "default",
            "tag": None,
            "sqsMessageId": queued["default"][0],
            "claimCheck": False,
            "outcome": "delivered",
        },
    ]
    assert len(line["addressHashes"].split()) == 4
    assert "quarantineReasons" not in line
    assert "deadLetter" not in line
    for address in ("sender@sender.org", "nobody@example.com", "_app1+ticket-7@example.com"):
        assert address not in out


def test_a_default_route_of_reserved_names_says_so(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_outbound@example.com"])), None)
    (line,) = lines(capsys.readouterr().out, "inbound email")
    assert [(r["app"], r["why"]) for r in line["routes"]] == [("default", "reserved")]


def test_a_claim_checked_target_says_so(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    ses_id = aws_env.put_raw(simple_mime(body="x" * 300_000))
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (line,) = lines(capsys.readouterr().out, "inbound email")
    assert line["routes"][0]["claimCheck"] is True


def test_quarantine_and_duplicates(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    event = ses_event(ses_record(ses_id, ["_app1@example.com"], virus="FAIL"))
    handler(event, None)
    handler(event, None)
    first, again = lines(capsys.readouterr().out, "inbound email")
    assert first["routes"] == [
        {
            "app": "app1",
            "queue": None,
            "why": "quarantine",
            "tag": None,
            "sqsMessageId": None,
            "claimCheck": False,
            "outcome": "quarantined",
        }
    ]
    assert first["quarantineReasons"] == {"app1": "virus_fail"}
    assert [r["outcome"] for r in again["routes"]] == ["duplicate"]


def test_a_duplicate_delivery_names_the_first_message_id(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    event = ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"]))
    handler(event, None)
    handler(event, None)
    first, again = lines(capsys.readouterr().out, "inbound email")
    assert again["outcome"] == "duplicate"
    assert again["routes"][0]["outcome"] == "duplicate"
    assert again["routes"][0]["sqsMessageId"] == first["routes"][0]["sqsMessageId"] is not None


def test_a_dead_lettered_email_says_why(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    handler(ses_event(ses_record("never-stored", ["_app1@example.com"])), None)
    (line,) = lines(capsys.readouterr().out, "inbound email")
    assert line["deadLetter"] == {"reason": "raw_missing"}
    assert [(r["app"], r["outcome"]) for r in line["routes"]] == [("app1", "failed")]


def test_a_transient_failure_is_logged_before_lambda_retries(
    aws_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = clients.client("sqs")

    def throttled(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "SendMessage")

    mime = simple_mime()
    event = ses_event(ses_record(aws_env.put_raw(mime), ["_app1@example.com"]))
    monkeypatch.setattr(sqs, "send_message", throttled)
    with pytest.raises(ClientError):
        handler(event, None)
    (line,) = lines(capsys.readouterr().out, "inbound email")
    assert (line["outcome"], line["reason"]) == ("retrying", "transient: ThrottlingException")
    assert [r["outcome"] for r in line["routes"]] == ["failed"]
    assert line["sizeBytes"] == len(mime)  # the email was parsed before the failure: its size is known


def test_the_outbound_line_hashes_every_address_and_names_the_status_message(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {
        "correlationId": "c-1",
        "source": "app1",
        "email": {
            "from": {"address": "_app1@example.com"},
            "to": [{"address": "to@example.net"}],
            "cc": [{"address": "cc@example.net"}],
            "bcc": [{"address": "bcc@example.net"}],
            "subject": "s",
            "body": {"text": "t"},
        },
    }
    handler(sqs_event([request]), None)
    (status,) = aws_env.sqs.receive_message(QueueUrl=aws_env.urls["app1"])["Messages"]
    out = capsys.readouterr().out
    (line,) = lines(out, "outbound email")
    key = table_key(aws_env)
    assert line["addressHashes"].split() == [
        expected_hash(key, a)
        for a in ("_app1@example.com", "to@example.net", "cc@example.net", "bcc@example.net")
    ]
    assert line["statusSqsMessageId"] == status["MessageId"]
    assert (line["correlationId"], line["app"], line["outcome"]) == ("c-1", "app1", "sent")
    assert "bcc@example.net" not in out
