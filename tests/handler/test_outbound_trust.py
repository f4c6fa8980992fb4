"""Finding 11: only the app itself can cause an `outbound.status` on its queue, and what the app reads in
`error.message` is a fixed text, never text from the request or from AWS.

app1 lists senderIds: a writer that is not one of them gets nothing on app1's queue, whatever it wrote
(valid or not, any correlationId); the attempt goes to the outbound DLQ for operators. The principal is
checked before anything else of the request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import clients, handler
from mailflow_handler.outbound.send import REASON_TEXTS

from .conftest import Env, make_config, outbound_log_errors, sent_emails, sqs_event

APP1_ROLE = "AROAAPP1ROLE"
VALID: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "order-4712",
    "source": "app1",
    "email": {
        "from": {"address": "_app1@example.com"},
        "to": [{"address": "customer@elsewhere.example"}],
        "subject": "s",
        "body": {"text": "t"},
    },
}
INVALID = {
    **VALID,
    "correlationId": "order-4711",
    "email": {**VALID["email"], "headers": {"Bcc-Retry-4711": "x"}},
}


@pytest.fixture
def guarded(aws_env: Env) -> Env:
    apps = make_config()["apps"]
    apps["app1"]["senderIds"] = [APP1_ROLE]
    aws_env.write_config(apps=apps)
    return aws_env


def send(body: Any, sender_id: str | None) -> None:
    event = sqs_event([body])
    if sender_id is not None:
        event["Records"][0]["attributes"]["SenderId"] = sender_id
    assert handler(event, None) == {"batchItemFailures": []}


@pytest.mark.parametrize("body", [VALID, INVALID, {"source": "app1"}, {"source": "APP1", "correlationId": 7}])
@pytest.mark.parametrize("sender_id", ["AROAATTACKER:session", "AROAAPP1ROLEX", None, ""])
def test_other_writers_reach_only_the_dlq(guarded: Env, body: dict[str, Any], sender_id: str | None) -> None:
    send(body, sender_id)
    assert guarded.drain("app1") == []
    assert sent_emails() == []
    (failure,) = guarded.drain("outboundDlq")
    assert failure["type"] == "outbound.failure"
    # Checked first: the request's own faults are not even looked at.
    assert failure["reason"] == "unauthorised_principal"
    assert json.loads(failure["original"]) == body
    assert failure["senderId"] == sender_id


def test_the_app_itself_gets_a_fixed_text(guarded: Env, capsys: pytest.CaptureFixture[str]) -> None:
    send(INVALID, f"{APP1_ROLE}:worker")
    (status,) = guarded.drain("app1")
    assert status["correlationId"] == "order-4711"
    assert status["error"] == {"reason": "invalid_message", "message": REASON_TEXTS["invalid_message"]}
    assert "Bcc-Retry-4711" not in json.dumps(status)
    assert "Bcc-Retry-4711" in outbound_log_errors(capsys.readouterr().out)[0]
    assert guarded.drain("outboundDlq") == []


def test_aws_error_messages_are_not_passed_on(
    guarded: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rejected = ClientError(
        {
            "Error": {
                "Code": "MessageRejected",
                "Message": "Email address is not verified: <script>x</script>",
            }
        },
        "SendEmail",
    )
    ses = clients.client("sesv2")
    monkeypatch.setattr(ses, "send_email", lambda **_: (_ for _ in ()).throw(rejected))
    send(VALID, APP1_ROLE)
    (status,) = guarded.drain("app1")
    assert status["error"] == {
        "reason": "aws:MessageRejected",
        "message": "AWS refused or failed the request (MessageRejected)",
    }
    assert "<script>" in outbound_log_errors(capsys.readouterr().out)[0]


def test_every_reason_the_handler_gives_has_a_fixed_text() -> None:
    import re
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "handler" / "mailflow_handler" / "outbound"
    raised = set()
    for path in source.glob("*.py"):
        raised |= set(re.findall(r'reason="([a-z_]+)"', path.read_text()))
        raised |= set(re.findall(r'reason = "([a-z_]+)"', path.read_text()))
    assert {"header_injection", "header_not_allowed", "sender_not_authorised", "attachment_missing"} <= raised
    answered = raised - {"unknown_source", "unauthorised_principal", "invalid_json"}  # DLQ only
    assert answered <= set(REASON_TEXTS), answered - set(REASON_TEXTS)


def test_apps_without_sender_ids_still_get_their_statuses(aws_env: Env) -> None:
    """No senderIds: the outbound queue's policy is the trust boundary (documented); the app is told."""
    send(INVALID, "AROAANYONE:x")
    (status,) = aws_env.drain("app1")
    assert status["error"]["message"] == REASON_TEXTS["invalid_message"]
