"""Contract C2 (finding 4, handler side): the email's idempotency record keeps the trimmed SES record
(`receipt`) as long as the raw mail, written by the acquire itself; DLQ bodies carry no event.

A redrive replays the stored record (`Env.stored_event`, as `mailflow dlq redrive inbound` does), and
gets the routing and security decision of the original event.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import addresses, clients, handler
from mailflow_handler.config import parse_config
from mailflow_handler.inbound import event
from mailflow_handler.inbound.route import route
from mailflow_handler.inbound.verdicts import decide

from .conftest import Env, make_config, ses_event, ses_record, simple_mime

DAY = 86_400


def item(env: Env, ses_id: str) -> dict[str, Any]:
    found = env.ddb.get_item(
        TableName="mf-idempotency", Key={"id": {"S": f"inbound#{ses_id}"}}, ConsistentRead=True
    )
    return dict(found["Item"])


def bulky_record(ses_id: str, recipients: list[str], **kw: Any) -> dict[str, Any]:
    record = ses_record(ses_id, recipients, **kw)
    mail = record["ses"]["mail"]
    mail["headers"] = [{"name": f"X-Filler-{i}", "value": "v" * 1000} for i in range(100)]
    mail["commonHeaders"].update({"subject": "s" * 5000, "to": ["x@example.com"] * 50})
    return record


def test_the_acquire_stores_the_trimmed_record(aws_env: Env) -> None:
    aws_env.write_config(
        idempotency={"table": "mf-idempotency", "ttlSeconds": DAY, "receiptTtlSeconds": 30 * DAY}
    )
    ses_id = aws_env.put_raw(simple_mime())
    record = bulky_record(ses_id, ["_app1@example.com"])
    calls: list[str] = []
    # The address hash key (contract L) is read once per container, before the counted email.
    addresses.container_key(clients.client("dynamodb"), "mf-idempotency")
    clients.client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    before = int(time.time())
    handler(ses_event(record), None)
    assert len(aws_env.drain("app1")) == 1
    # Two writes per email, as before: the receipt rides on the acquire.
    assert calls == ["UpdateItem", "UpdateItem"]
    stored = item(aws_env, ses_id)
    receipt = json.loads(stored["receipt"]["S"])
    assert receipt == {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": record["ses"]["mail"]["timestamp"],
                "source": "sender@sender.org",
                "messageId": ses_id,
                "destination": ["_app1@example.com"],
                "headersTruncated": False,
                "commonHeaders": {"messageId": "<x@y>"},
            },
            "receipt": {k: v for k, v in record["ses"]["receipt"].items() if k != "processingTimeMillis"},
        },
    }
    assert len(stored["receipt"]["S"]) < 1_500
    # The record outlives the raw mail: max(ttlSeconds, receiptTtlSeconds).
    assert before + 30 * DAY <= int(stored["expiration"]["N"]) <= int(time.time()) + 30 * DAY


def test_the_idempotency_ttl_wins_when_longer(aws_env: Env) -> None:
    aws_env.write_config(
        idempotency={"table": "mf-idempotency", "ttlSeconds": 40 * DAY, "receiptTtlSeconds": DAY}
    )
    ses_id = aws_env.put_raw(simple_mime())
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert int(item(aws_env, ses_id)["expiration"]["N"]) >= int(time.time()) + 40 * DAY - 5


def test_a_failed_email_keeps_its_record_and_the_dlq_body_no_event(
    aws_env: Env, failure_validator: Any
) -> None:
    handler(ses_event(ses_record("no-raw-yet", ["_app1@example.com"])), None)
    (failure,) = aws_env.drain("inboundDlq")
    failure_validator.validate(failure)
    assert failure["version"] == "2.0"
    assert "event" not in failure
    assert "sesRecord" not in failure
    stored = item(aws_env, "no-raw-yet")
    assert stored["status"]["S"] == "PARTIAL"
    assert json.loads(stored["data"]["S"])["done"] == []
    # Once the raw mail is there, replaying the stored record delivers.
    aws_env.put_raw(simple_mime(), "no-raw-yet")
    handler(aws_env.stored_event("no-raw-yet"), None)
    assert len(aws_env.drain("app1")) == 1


def test_a_later_invocation_does_not_replace_the_stored_record(aws_env: Env) -> None:
    handler(ses_event(ses_record("first-wins", ["_app1@example.com"])), None)  # raw missing: PARTIAL
    aws_env.drain("inboundDlq")
    forged = ses_record("first-wins", ["_app2@example.com"], virus="PASS")
    handler(ses_event(forged), None)
    aws_env.drain("inboundDlq")
    receipt = json.loads(item(aws_env, "first-wins")["receipt"]["S"])
    assert receipt["ses"]["receipt"]["recipients"] == ["_app1@example.com"]


@pytest.mark.parametrize(
    ("recipients", "verdicts"),
    [
        (["_app1@example.com", "_app3@example.com", "someone@example.com"], {}),
        (["_app1@example.com"], {"virus": "FAIL"}),
        (["_app2@example.com"], {"spam": "FAIL", "dmarc": "FAIL", "dmarc_policy": "reject"}),
        (["_app3@example.com"], {"source": "x@trusted.org", "spf": "FAIL"}),
    ],
)
def test_the_stored_record_decides_like_the_original(recipients: list[str], verdicts: dict[str, Any]) -> None:
    config = parse_config(make_config())
    original = bulky_record("same-decision", recipients, **verdicts)
    mail, receipt, _ = event.parts(original)
    stored = json.loads(event.trimmed(original, mail, receipt))
    decisions = []
    for record in (original, stored):
        mail, receipt, _ = event.parts(record)
        decision = decide(route(event.recipients(receipt), config), receipt, config)
        decision.check_senders(list(decision.deliver), config, mail["source"], "alice@sender.org")
        decisions.append(
            (
                [r.app for r in decision.deliver],
                [(r.app, reason) for r, reason in decision.quarantine],
                decision.security.as_json(),
            )
        )
    assert decisions[0] == decisions[1]


def test_replaying_a_quarantined_email_keeps_it_quarantined(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    s3 = clients.client("s3")
    real = s3.copy_object
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CopyObject")
    monkeypatch.setattr(s3, "copy_object", lambda **kw: (_ for _ in ()).throw(denied))
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"], virus="FAIL")), None)
    (failure,) = aws_env.drain("inboundDlq")
    assert failure["reason"] == "quarantine_failed"
    monkeypatch.setattr(s3, "copy_object", real)
    replay = aws_env.stored_event(ses_id)
    assert replay["Records"][0]["ses"]["receipt"]["virusVerdict"] == {"status": "FAIL"}
    handler(replay, None)
    assert aws_env.drain("app1") == []
    (record,) = aws_env.quarantine_records()
    assert record["reasons"] == {"app1": "virus_fail"}


def test_the_trimmed_record_keeps_what_processing_needs() -> None:
    record = bulky_record("keep", ["_app1@example.com"], dmarc="FAIL", dmarc_policy="quarantine")
    mail, receipt, _ = event.parts(record)
    stored = json.loads(event.trimmed(record, mail, receipt))
    expected = copy.deepcopy(record)
    expected["ses"]["mail"].pop("headers")
    expected["ses"]["mail"]["commonHeaders"] = {"messageId": "<x@y>"}
    expected["ses"]["receipt"].pop("processingTimeMillis")
    assert stored == expected
