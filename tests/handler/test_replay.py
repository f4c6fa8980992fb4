"""Spec R: the handler's side of `mailflow replay`.

A replay event holds the stored SES records (`receipt` of `inbound#<sesId>`, as `Env.stored_event` reads
it) and the marker `mailflowReplay: {"version": 1, "targets": {"<sesId>": ["app", ...]}}`. The handler
re-opens the email's COMPLETED record, delivers only to listed targets its own routing gives and the
record does not list as done, keeps quarantine decisions, and applies the content checks as on a first
delivery. A marker that is not exactly right is refused whole, before anything is processed.

AWS behaviour relied on: DynamoDB's conditional UpdateItem with ReturnValues=ALL_OLD hands back the
item as it was before the update, and fails with ConditionalCheckFailedException when the condition
does not hold (moto implements both).
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import clients, handler
from mailflow_handler.errors import InProgressError, UnsupportedEventError
from mailflow_handler.idempotency import IdempotencyStore
from mailflow_handler.inbound.message import message_id_for

from .conftest import BUCKET, QUEUES, Env, make_config, ses_event, ses_record, simple_mime, sqs_event

TABLE = "mf-idempotency"


def configure(env: Env, *, without: tuple[str, ...] = (), **overrides: Any) -> None:
    """The runtime config, with the apps in `without` left out (as before they were added and deployed)."""
    doc = make_config(**overrides)
    for app in without:
        del doc["apps"][app]
    env.config_path.write_text(json.dumps(doc))
    clients.reset()


def item(env: Env, ses_id: str) -> dict[str, Any]:
    found = env.ddb.get_item(TableName=TABLE, Key={"id": {"S": f"inbound#{ses_id}"}}, ConsistentRead=True)
    return dict(found["Item"])


def data(env: Env, ses_id: str) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(item(env, ses_id)["data"]["S"])
    return stored


def replay_event(env: Env, targets: dict[str, list[str]]) -> dict[str, Any]:
    """What `mailflow replay` invokes the function with: the stored records and the marker."""
    records = [env.stored_event(ses_id)["Records"][0] for ses_id in targets]
    return {"Records": records, "mailflowReplay": {"version": 1, "targets": targets}}


def first_delivery(env: Env, recipients: list[str], *, raw: bytes | None = None, **verdicts: Any) -> str:
    ses_id = env.put_raw(raw or simple_mime())
    handler(ses_event(ses_record(ses_id, recipients, **verdicts)), None)
    return ses_id


def inbound_lines(out: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in parsed if line.get("message") == "inbound email"]


def count_calls(env: Env) -> list[str]:
    """The names of the AWS calls the handler's own clients make from now on."""
    calls: list[str] = []
    for service in ("s3", "sqs", "dynamodb"):
        clients.client(service).meta.events.register(
            f"before-call.{service}.*", lambda model, **_: calls.append(model.name)
        )
    return calls


def quarantine_keys(env: Env) -> list[str]:
    listed = env.s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/").get("Contents", [])
    return sorted(o["Key"] for o in listed)


def raw_tags(env: Env, ses_id: str) -> list[str]:
    tags = env.s3.get_object_tagging(Bucket=BUCKET, Key=f"raw/{ses_id}")["TagSet"]
    return sorted(tag["Key"] for tag in tags)


# 1. The marker's shape ----------------------------------------------------------------------------------
def _marker(**changes: Any) -> Any:
    """A marker for the two emails (`first`, `second`), with `changes` to it."""
    return lambda first, second: {"version": 1, "targets": {first: ["app1"], second: ["app2"]}, **changes}


def _targets(build: Any) -> Any:
    return lambda first, second: {"version": 1, "targets": build(first, second)}


FORGERIES: dict[str, Any] = {
    "version 2": _marker(version=2),
    "version true": _marker(version=True),
    "version text": _marker(version="1"),
    "no targets": lambda first, second: {"version": 1},
    "an extra key": _marker(note="x"),
    "targets a list": _marker(targets=["app1", "app2"]),
    "targets empty": _marker(targets={}),
    "apps not a list": _targets(lambda first, second: {first: ["app1"], second: "app2"}),
    "no apps": _targets(lambda first, second: {first: ["app1"], second: []}),
    "an app not a name": _targets(lambda first, second: {first: ["app1"], second: ["app2", 7]}),
    "an empty app name": _targets(lambda first, second: {first: ["app1"], second: [""]}),
    "an id not listed": _targets(lambda first, second: {first: ["app1"], "another-id": ["app2"]}),
    "an id no record is": _targets(lambda first, second: {first: ["app1"], second: ["app2"], "x": ["a"]}),
    "not an object": lambda first, second: ["app1", "app2"],
    "null": lambda first, second: None,
}


@pytest.mark.parametrize("forged", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_marker_is_refused_with_nothing_processed(
    aws_env: Env, forged: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(aws_env, without=("app2",))
    first = first_delivery(aws_env, ["_app1@example.com", "_app2@example.com"])
    second = first_delivery(aws_env, ["_app2@example.com"])
    aws_env.drain_all()
    configure(aws_env)
    before = [item(aws_env, first), item(aws_env, second)]
    capsys.readouterr()
    calls = count_calls(aws_env)
    event = replay_event(aws_env, {first: ["app1"], second: ["app2"]})
    event["mailflowReplay"] = forged(first, second)
    with pytest.raises(UnsupportedEventError, match="unsupported replay event: "):
        handler(event, None)
    assert calls == []
    assert [item(aws_env, first), item(aws_env, second)] == before
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert inbound_lines(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("records", "why"),
    [
        (lambda stored: [stored, {"eventSource": "aws:sqs", "body": "{}"}], "Records[1] is not an aws:ses"),
        (lambda stored: [{**stored, "eventSource": "aws:s3"}], "Records[0] is not an aws:ses"),
        (lambda stored: ["not a record"], "Records[0] is not an aws:ses"),
        (lambda stored: [], "holds the stored aws:ses records"),
    ],
    ids=["an sqs record", "another source", "not a record", "no records"],
)
def test_a_replay_of_anything_but_ses_records_is_refused(aws_env: Env, records: Any, why: str) -> None:
    ses_id = first_delivery(aws_env, ["_app1@example.com"])
    aws_env.drain_all()
    before = item(aws_env, ses_id)
    event = replay_event(aws_env, {ses_id: ["app1"]})
    event["Records"] = records(event["Records"][0])
    with pytest.raises(UnsupportedEventError, match="unsupported"):
        handler(event, None)
    assert item(aws_env, ses_id) == before
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}


def test_the_refusal_names_what_is_wrong(aws_env: Env) -> None:
    ses_id = first_delivery(aws_env, ["_app1@example.com"])
    event = replay_event(aws_env, {ses_id: ["app1"]})
    event["mailflowReplay"]["targets"] = {"someone-else": ["app1"]}
    with pytest.raises(UnsupportedEventError) as refused:
        handler(event, None)
    assert str(refused.value) == (
        f"unsupported replay event: Records[0] (ses.mail.messageId {ses_id!r}) is not listed in "
        "mailflowReplay.targets"
    )
    event = sqs_event([{"x": 1}])
    event["mailflowReplay"] = {"version": 1, "targets": {"a": ["app1"]}}
    with pytest.raises(UnsupportedEventError, match=r"Records\[0\] is not an aws:ses record"):
        handler(event, None)


# 2, 4, 6. Re-open, only the listed targets, finish ----------------------------------------------------
def test_a_replay_delivers_a_completed_email_to_the_new_app_once(
    aws_env: Env, inbound_validator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(aws_env, without=("app2",))
    ses_id = first_delivery(aws_env, ["_app2@example.com"])
    (first,) = aws_env.drain("default")
    assert item(aws_env, ses_id)["status"]["S"] == "COMPLETED"
    configure(aws_env)  # app2 added and deployed
    # Today's redelivery of the same record does nothing: the record is COMPLETED.
    handler(aws_env.stored_event(ses_id), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    receipt = item(aws_env, ses_id)["receipt"]
    capsys.readouterr()

    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    (message,) = aws_env.drain("app2")
    inbound_validator.validate(message)
    assert message["id"] == message_id_for(ses_id, "app2")
    assert message["metadata"]["s3ObjectKey"] == f"raw/{ses_id}"
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    stored = item(aws_env, ses_id)
    assert stored["status"]["S"] == "COMPLETED"
    assert stored["receipt"] == receipt
    recorded = json.loads(stored["data"]["S"])
    assert recorded["done"] == ["app2", "default"]
    assert set(recorded["sqsMessageIds"]) == {"app2", "default"}
    assert raw_tags(aws_env, ses_id) == ["mailflow:app:app2", "mailflow:app:default"]
    (line,) = inbound_lines(capsys.readouterr().out)
    assert (line["outcome"], line["apps"], line["replay"], line["replayTargets"]) == (
        "delivered",
        ["app2"],
        True,
        ["app2"],
    )
    assert [(r["app"], r["outcome"]) for r in line["routes"]] == [("app2", "delivered")]

    # Never again: a second replay finds app2 done.
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert data(aws_env, ses_id) == recorded
    (line,) = inbound_lines(capsys.readouterr().out)
    assert (line["outcome"], line["duplicates"], line["replay"]) == ("duplicate", ["app2"], True)
    assert first["id"] == message_id_for(ses_id, "default")


def test_only_the_listed_targets_are_delivered(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    configure(aws_env, without=("app2", "app3"))
    ses_id = first_delivery(aws_env, ["_app1@example.com", "_app2@example.com", "_app3@example.com"])
    assert {k: len(v) for k, v in aws_env.drain_all().items() if v} == {"app1": 1, "default": 1}
    configure(aws_env, apps={"app3": {"queue": QUEUES["app3"], "senders": [], "allowedSenderDomains": []}})
    capsys.readouterr()
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    assert {k: len(v) for k, v in aws_env.drain_all().items() if v} == {"app2": 1}
    stored = item(aws_env, ses_id)
    # app3 is ignored entirely: not delivered, not quarantined, not unsent; the record was COMPLETED.
    assert stored["status"]["S"] == "COMPLETED"
    assert json.loads(stored["data"]["S"])["done"] == ["app1", "app2", "default"]
    (line,) = inbound_lines(capsys.readouterr().out)
    assert [r["app"] for r in line["routes"]] == ["app2"]


def test_a_listed_target_the_routing_does_not_give_is_not_delivered(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """The marker only narrows: app2 is configured, but no recipient of this email names it."""
    ses_id = first_delivery(aws_env, ["_app1@example.com"])
    aws_env.drain_all()
    capsys.readouterr()
    handler(replay_event(aws_env, {ses_id: ["app1", "app2", "default"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert data(aws_env, ses_id)["done"] == ["app1"]
    assert item(aws_env, ses_id)["status"]["S"] == "COMPLETED"
    (line,) = inbound_lines(capsys.readouterr().out)
    assert (line["outcome"], line["duplicates"]) == ("duplicate", ["app1"])


def test_the_stored_record_decides_not_the_invoking_one(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event whose record names other recipients than the record the handler stored for that email
    cannot send the email anywhere the stored record does not route it: the event only names the email."""
    ses_id = first_delivery(aws_env, ["_app1@example.com"])
    aws_env.drain_all()
    capsys.readouterr()
    forged = ses_record(ses_id, ["_app2@example.com"])
    handler({"Records": [forged], "mailflowReplay": {"version": 1, "targets": {ses_id: ["app2"]}}}, None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert data(aws_env, ses_id)["done"] == ["app1"]
    out = capsys.readouterr().out
    assert "the stored one decides" in out
    assert [r["app"] for r in inbound_lines(out)[0]["routes"]] == []
    # Without the marker too: an email left PARTIAL (its raw mail was not there yet) and invoked again
    # with another recipient goes where its stored record routes it.
    handler(ses_event(ses_record("late-raw", ["_app1@example.com"])), None)
    assert [f["reason"] for f in aws_env.drain("inboundDlq")] == ["raw_missing"]
    aws_env.put_raw(simple_mime(), "late-raw")
    handler(ses_event(ses_record("late-raw", ["_app2@example.com"], virus="PASS")), None)
    assert {k: len(v) for k, v in aws_env.drain_all().items() if v} == {"app1": 1}


def test_several_emails_in_one_replay(aws_env: Env) -> None:
    configure(aws_env, without=("app2",))
    first = first_delivery(aws_env, ["_app2@example.com"])
    second = first_delivery(aws_env, ["_app1@example.com", "_app2@example.com"])
    aws_env.drain_all()
    configure(aws_env)
    handler(replay_event(aws_env, {first: ["app2"], second: ["app2"]}), None)
    messages = aws_env.drain("app2")
    assert sorted(m["id"] for m in messages) == sorted(message_id_for(s, "app2") for s in (first, second))
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert data(aws_env, first)["done"] == ["app2", "default"]
    assert data(aws_env, second)["done"] == ["app1", "app2", "default"]


# 2. A concurrent attempt -------------------------------------------------------------------------------
def test_an_unexpired_lock_makes_the_replay_retry(aws_env: Env) -> None:
    configure(aws_env, without=("app2",))
    ses_id = first_delivery(aws_env, ["_app2@example.com"])
    aws_env.drain_all()
    configure(aws_env)
    store = IdempotencyStore(aws_env.ddb, TABLE, 3600, 120)
    store.acquire(f"inbound#{ses_id}", reopen=True)  # another attempt holds the email right now
    held = item(aws_env, ses_id)
    with pytest.raises(InProgressError):
        handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    assert item(aws_env, ses_id) == held
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    store.complete(f"inbound#{ses_id}", data(aws_env, ses_id) if "data" in held else None)
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)  # Lambda's retry, once the lock is gone
    assert len(aws_env.drain("app2")) == 1


def test_reopen_takes_a_completed_record_and_hands_back_what_it_held(aws_env: Env) -> None:
    now = [1_700_000_000.0]
    store = IdempotencyStore(aws_env.ddb, TABLE, 3600, 120, clock=lambda: now[0])
    assert store.acquire("k", receipt='{"r":1}').fresh
    store.complete("k", {"done": ["a"]})
    assert not store.acquire("k").acquired
    claim = store.acquire("k", receipt='{"r":2}', reopen=True)
    assert (claim.acquired, claim.fresh, claim.status, claim.data, claim.receipt) == (
        True,
        False,
        "COMPLETED",
        {"done": ["a"]},
        '{"r":1}',
    )
    with pytest.raises(InProgressError):
        store.acquire("k", reopen=True)
    assert store._ddb.get_item(TableName=TABLE, Key={"id": {"S": "k"}})["Item"]["receipt"]["S"] == '{"r":1}'


# 3. Quarantine stays --------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["COMPLETED", "PARTIAL"])
def test_a_quarantined_email_stays_in_quarantine(
    aws_env: Env, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ses_id = first_delivery(aws_env, ["_app1@example.com"], spam="FAIL")
    assert quarantine_keys(aws_env) == [f"quarantine/{ses_id}.eml", f"quarantine/{ses_id}.json"]
    if status == "PARTIAL":
        aws_env.ddb.update_item(
            TableName=TABLE,
            Key={"id": {"S": f"inbound#{ses_id}"}},
            UpdateExpression="SET #s = :p",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "PARTIAL"}},
        )
    before = item(aws_env, ses_id)
    # The stored record says spam FAIL, which the policy quarantined. Now the policy delivers spam, and a
    # replay lists app1: it delivers nothing and quarantines nothing again.
    configure(aws_env, security={"spamFail": "deliver"})
    capsys.readouterr()
    calls = count_calls(aws_env)
    handler(replay_event(aws_env, {ses_id: ["app1"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert [c for c in calls if c in ("PutObject", "CopyObject", "PutObjectTagging", "SendMessage")] == []
    after = item(aws_env, ses_id)
    assert (after["status"], after["data"], after["receipt"]) == (
        before["status"],
        before["data"],
        before["receipt"],
    )
    (line,) = inbound_lines(capsys.readouterr().out)
    assert (line["outcome"], line["reason"], line["apps"], line["quarantined"]) == (
        "duplicate",
        "quarantined_stays",
        [],
        [],
    )


# 5. Content checks still apply -------------------------------------------------------------------------
def _with_attachments(count: int) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f'filename="f{i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n'
        for i in range(count)
    )
    return (
        "From: Alice <alice@sender.org>\r\nTo: _app2@example.com\r\nSubject: files\r\n"
        "Message-ID: <f@sender.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n{parts}--b--\r\n"
    ).encode()


def test_a_listed_target_over_a_limit_is_quarantined(aws_env: Env) -> None:
    configure(aws_env, without=("app2",))
    ses_id = first_delivery(aws_env, ["_app2@example.com"], raw=_with_attachments(3))
    assert len(aws_env.drain("default")) == 1
    configure(aws_env, limits={"maxAttachments": 2})  # app2 added, and a lower limit deployed with it
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    (record,) = aws_env.quarantine_records()
    assert record["reasons"] == {"app2": "too_many_attachments"}
    assert [t["app"] for t in record["targets"]] == ["app2"]
    assert quarantine_keys(aws_env) == [f"quarantine/{ses_id}.eml", f"quarantine/{ses_id}.json"]
    assert data(aws_env, ses_id)["done"] == ["@quarantine", "default"]
    assert raw_tags(aws_env, ses_id) == ["mailflow:app:default"]  # quarantined mail gets no tag


def test_a_listed_target_whose_sender_policy_refuses_the_from_header_is_quarantined(aws_env: Env) -> None:
    """app3 accepts only authenticated senders of trusted.org: the envelope domain is sender.org and
    DMARC passed, so only the From header (sender.org too) decides, after parsing."""
    configure(aws_env, without=("app3",))
    ses_id = first_delivery(aws_env, ["_app3@example.com"])
    assert len(aws_env.drain("default")) == 1
    configure(aws_env)
    handler(replay_event(aws_env, {ses_id: ["app3"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    (record,) = aws_env.quarantine_records()
    assert record["reasons"] == {"app3": "sender_not_allowed"}
    assert data(aws_env, ses_id)["done"] == ["@quarantine", "default"]
    assert item(aws_env, ses_id)["status"]["S"] == "COMPLETED"


# 6. Failures leave PARTIAL ----------------------------------------------------------------------------
def test_a_failed_replay_leaves_the_record_partial(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(aws_env, without=("app2",))
    ses_id = first_delivery(aws_env, ["_app2@example.com"])
    aws_env.drain_all()
    configure(aws_env)
    sqs = clients.client("sqs")
    real = sqs.send_message
    app2_url = aws_env.urls["app2"]

    def refused(**kwargs: Any) -> Any:
        if kwargs["QueueUrl"] == app2_url:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage")
        return real(**kwargs)

    monkeypatch.setattr(sqs, "send_message", refused)
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)
    (failure,) = aws_env.drain("inboundDlq")
    assert (failure["reason"], failure["targets"]) == ("aws_error", ["app2"])
    stored = item(aws_env, ses_id)
    assert stored["status"]["S"] == "PARTIAL"
    assert json.loads(stored["data"]["S"])["done"] == ["default"]
    monkeypatch.setattr(sqs, "send_message", real)
    handler(replay_event(aws_env, {ses_id: ["app2"]}), None)  # the redrive of that replay
    assert len(aws_env.drain("app2")) == 1
    assert item(aws_env, ses_id)["status"]["S"] == "COMPLETED"


def test_a_partial_record_stays_partial_while_a_target_the_replay_does_not_list_is_unfinished(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    sqs = clients.client("sqs")
    real = sqs.send_message

    def app1_down(**kwargs: Any) -> Any:
        if kwargs["QueueUrl"] == aws_env.urls["app1"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage")
        return real(**kwargs)

    monkeypatch.setattr(sqs, "send_message", app1_down)
    handler(ses_event(ses_record(ses_id, ["_app2@example.com", "_app1@example.com"])), None)
    monkeypatch.setattr(sqs, "send_message", real)
    assert {k: len(v) for k, v in aws_env.drain_all().items() if v} == {"app2": 1, "inboundDlq": 1}
    assert (item(aws_env, ses_id)["status"]["S"], data(aws_env, ses_id)["done"]) == ("PARTIAL", ["app2"])
    # A replay for app3 only (say, `--app app3`) leaves app1 to the redrive of its DLQ entry.
    handler(replay_event(aws_env, {ses_id: ["app2", "app3"]}), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    assert item(aws_env, ses_id)["status"]["S"] == "PARTIAL"
    handler(replay_event(aws_env, {ses_id: ["app1"]}), None)
    assert len(aws_env.drain("app1")) == 1
    assert (item(aws_env, ses_id)["status"]["S"], data(aws_env, ses_id)["done"]) == (
        "COMPLETED",
        ["app1", "app2"],
    )


def test_the_replayed_record_keeps_its_receipt_and_expiration_floor(aws_env: Env) -> None:
    configure(aws_env, without=("app2",))
    ses_id = first_delivery(aws_env, ["_app2@example.com"])
    aws_env.drain_all()
    configure(aws_env, idempotency={"table": TABLE, "ttlSeconds": 3600, "receiptTtlSeconds": 30 * 86400})
    before = item(aws_env, ses_id)
    event = replay_event(aws_env, {ses_id: ["app2"]})
    altered = copy.deepcopy(event)
    altered["Records"][0]["ses"]["mail"]["timestamp"] = "2030-01-01T00:00:00.000Z"
    handler(altered, None)
    after = item(aws_env, ses_id)
    assert after["receipt"] == before["receipt"]
    assert int(after["expiration"]["N"]) >= int(time.time()) + 30 * 86400 - 5
