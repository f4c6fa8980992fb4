"""An outbound attempt that dies part-way (a Lambda timeout, a killed runtime: nothing of the handler
runs after it) and the attempt that takes its lock over once it has expired. SES has no idempotency
token, so the record is marked before SendEmail: a takeover of a marked record never sends a second
copy; it tells the app the outcome is unknown, once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from mailflow_handler import clients, handler
from mailflow_handler.errors import InProgressError
from mailflow_handler.idempotency import IdempotencyStore
from mailflow_handler.outbound.send import REASON_TEXTS

from .conftest import ACCOUNT, REGION, Env, outbound_request, sent_emails, sqs_event

REQUEST: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "crash-1",
    "source": "app1",
    "email": {
        "from": {"address": "_app1@example.com"},
        "to": [{"address": "recipient@example.com"}],
        "subject": "Crash test",
        "body": {"text": "hello"},
    },
}
KEY = "outbound#app1#crash-1"


class Crash(BaseException):
    """The runtime dies: no except Exception, finally-less code path of the handler runs after it."""


def _item(aws_env: Env) -> dict[str, Any]:
    item: dict[str, Any] = aws_env.ddb.get_item(
        TableName="mf-idempotency", Key={"id": {"S": KEY}}, ConsistentRead=True
    )["Item"]
    return item


def _expire_lock(aws_env: Env) -> None:
    """What time does on AWS: the dead attempt's lock runs out."""
    aws_env.ddb.update_item(
        TableName="mf-idempotency",
        Key={"id": {"S": KEY}},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": "0"}},
    )


def _crash_on(monkeypatch: pytest.MonkeyPatch, client: str, method: str, *, after: bool) -> None:
    real = getattr(clients.client(client), method)

    def dying(**kwargs: Any) -> Any:
        if after:
            real(**kwargs)
        raise Crash(f"{client}.{method}")

    monkeypatch.setattr(clients.client(client), method, dying)


def _run_until_crash(event: dict[str, Any]) -> None:
    with pytest.raises(Crash):
        handler(event, None)


@pytest.fixture
def warm(aws_env: Env) -> Env:
    handler(sqs_event([outbound_request(REQUEST, subject="warm-up") | {"correlationId": "warm"}]), None)
    aws_env.drain("app1")
    from moto.ses.models import ses_backends

    ses_backends[ACCOUNT][REGION].sent_messages.clear()
    return aws_env


def test_a_crash_after_ses_sent_never_sends_a_second_copy(warm: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _crash_on(monkeypatch, "sqs", "send_message", after=False)  # dies before the status goes out
    _run_until_crash(sqs_event([REQUEST]))
    assert len(sent_emails()) == 1
    assert _item(warm)["status"]["S"] == "INPROGRESS"
    monkeypatch.undo()
    _expire_lock(warm)

    assert handler(sqs_event([REQUEST], receive_count=2), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    (status,) = warm.drain("app1")
    assert (status["status"], status["retry"], status["error"]["reason"]) == (
        "failed",
        False,
        "outcome_unknown",
    )
    assert status["error"]["message"] == REASON_TEXTS["outcome_unknown"]
    assert _item(warm)["status"]["S"] == "COMPLETED"

    # Later redeliveries are duplicates: no email, no second status.
    assert handler(sqs_event([REQUEST], receive_count=3), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    assert warm.drain("app1") == []


def test_a_crash_before_ses_was_asked_sends_once_on_the_retry(
    warm: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_on(monkeypatch, "dynamodb", "update_item", after=True)  # dies right after taking the lock
    _run_until_crash(sqs_event([REQUEST]))
    assert sent_emails() == []
    monkeypatch.undo()
    _expire_lock(warm)

    assert handler(sqs_event([REQUEST], receive_count=2), None) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    (status,) = warm.drain("app1")
    assert status["status"] == "sent"


def test_a_crash_between_the_mark_and_the_send_is_reported_not_guessed(
    warm: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_on(monkeypatch, "sesv2", "send_email", after=False)  # dies as the request would go out
    _run_until_crash(sqs_event([REQUEST]))
    monkeypatch.undo()
    _expire_lock(warm)
    handler(sqs_event([REQUEST], receive_count=2), None)
    assert sent_emails() == []  # it was not sent, but nothing can tell that from a sent one
    (status,) = warm.drain("app1")
    assert status["error"]["reason"] == "outcome_unknown"


def test_the_status_of_an_unknown_outcome_is_retried_until_it_is_out(
    warm: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_on(monkeypatch, "sqs", "send_message", after=False)
    _run_until_crash(sqs_event([REQUEST]))
    monkeypatch.undo()
    _expire_lock(warm)
    sqs = clients.client("sqs")

    def throttled(**kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "SendMessage")

    monkeypatch.setattr(sqs, "send_message", throttled)
    event = sqs_event([REQUEST], receive_count=2)
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert _item(warm)["status"]["S"] == "PARTIAL"
    monkeypatch.undo()
    handler(sqs_event([REQUEST], receive_count=3), None)
    (status,) = warm.drain("app1")
    assert status["error"]["reason"] == "outcome_unknown"
    assert len(sent_emails()) == 1  # the first attempt's, never a second


def test_a_read_timeout_then_an_expired_lock_reports_the_unknown_outcome(
    warm: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def timeout(**kwargs: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    monkeypatch.setattr(clients.client("sesv2"), "send_email", timeout)
    event = sqs_event([REQUEST])
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    monkeypatch.undo()
    _expire_lock(warm)
    handler(sqs_event([REQUEST], receive_count=2), None)
    assert sent_emails() == []
    statuses = warm.drain("app1")
    assert [(s["status"], s["retry"], s["error"]["reason"]) for s in statuses] == [
        ("failed", True, "transient"),  # the attempt that timed out
        ("failed", False, "outcome_unknown"),
    ]


def test_an_attempt_whose_lock_was_taken_over_does_not_send(
    warm: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow attempt outlives its lock and another takes the record: the slow one must not send."""
    from mailflow_handler.outbound import send

    real = send.compose

    def slow_compose(*args: Any, **kwargs: Any) -> Any:
        warm.ddb.update_item(  # the other attempt's takeover
            TableName="mf-idempotency",
            Key={"id": {"S": KEY}},
            UpdateExpression="SET in_progress_expiration = :theirs",
            ExpressionAttributeValues={":theirs": {"N": "1"}},
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(send, "compose", slow_compose)
    event = sqs_event([REQUEST])
    assert handler(event, None)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert sent_emails() == []


def test_mark_needs_the_lock_this_store_holds(aws_env: Env) -> None:
    store = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120)
    with pytest.raises(InProgressError):
        store.mark("outbound#app1#never-taken", {"sending": True})
    claim = store.acquire("outbound#app1#mine")
    assert claim.acquired
    store.mark("outbound#app1#mine", {"sending": True})
    other = IdempotencyStore(aws_env.ddb, "mf-idempotency", 3600, 120)
    with pytest.raises(InProgressError):
        other.mark("outbound#app1#mine", {"sending": True})
