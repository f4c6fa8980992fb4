"""Running a rule's actions in order (S3, AddHeader, Lambda, Stop) and routing mail sent through SES."""

from __future__ import annotations

from typing import Any, ClassVar

from mailflow_cli.local.lambda_runner import InvokeResult
from mailflow_cli.local.outbox import OutboxStore, OutboxWatcher
from mailflow_cli.local.receiving import Receiver
from mailflow_cli.local.sent_mail import from_moto_message
from mailflow_cli.local.ses_event import ReceivedMail
from mailflow_cli.local.ses_simulator import SesSimulator

RAW = b"From: a@sender.org\r\nTo: _app1@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
FN = "arn:aws:lambda:eu-west-1:123456789012:function:f"


class FakeSes:
    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules

    def describe_active_receipt_rule_set(self) -> dict[str, Any]:
        return {"Rules": self.rules}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[f"{Bucket}/{Key}"] = Body


class FakeRunner:
    def __init__(self, payload: Any = None) -> None:
        self.payload = payload
        self.events: list[Any] = []

    def invoke(self, function: str, event: Any) -> InvokeResult:
        self.events.append(event)
        return InvokeResult(request_id="r", payload=self.payload)


class FakeAsync:
    def __init__(self) -> None:
        self.submitted: list[tuple[str, Any]] = []

    def submit(self, function: str, event: Any) -> None:
        self.submitted.append((function, event))


def receiver(
    rules: list[dict[str, Any]], payload: Any = None
) -> tuple[Receiver, FakeS3, FakeRunner, FakeAsync]:
    s3, runner, invoker = FakeS3(), FakeRunner(payload), FakeAsync()
    instance = Receiver(
        ses_client=FakeSes(rules),
        s3_client=s3,
        runner=runner,  # type: ignore[arg-type]
        async_invoker=invoker,  # type: ignore[arg-type]
        region="eu-west-1",
    )
    return instance, s3, runner, invoker


def test_actions_run_in_order_with_added_headers_and_async_lambda() -> None:
    rules = [
        {
            "Name": "main",
            "Enabled": True,
            "Recipients": ["example.com"],
            "Actions": [
                {"AddHeaderAction": {"HeaderName": "X-Team", "HeaderValue": "blue"}},
                {"S3Action": {"BucketName": "bkt", "ObjectKeyPrefix": "raw/"}},
                {"LambdaAction": {"FunctionArn": FN, "InvocationType": "Event"}},
            ],
        }
    ]
    instance, s3, runner, invoker = receiver(rules)
    mail = ReceivedMail(raw=RAW, mail_from="a@sender.org", recipients=("_app1@example.com",))
    receipt = instance.receive(mail, tls=True)
    stored = s3.objects[f"bkt/raw/{mail.message_id}"]
    assert stored.startswith(b"X-Team: blue\r\nReturn-Path: <a@sender.org>\r\n")
    assert stored.endswith(RAW)
    assert receipt.stored == [f"s3://bkt/raw/{mail.message_id}"]
    assert runner.events == []
    ((function, event),) = invoker.submitted
    assert function == FN
    assert event["Records"][0]["ses"]["receipt"]["recipients"] == ["_app1@example.com"]


def test_request_response_stop_rule_set_ends_processing() -> None:
    rules = [
        {
            "Name": "first",
            "Enabled": True,
            "Recipients": [],
            "Actions": [
                {"LambdaAction": {"FunctionArn": FN, "InvocationType": "RequestResponse"}},
                {"S3Action": {"BucketName": "skipped"}},
            ],
        },
        {
            "Name": "second",
            "Enabled": True,
            "Recipients": [],
            "Actions": [{"S3Action": {"BucketName": "later"}}],
        },
    ]
    instance, s3, runner, invoker = receiver(rules, payload={"disposition": "STOP_RULE_SET"})
    instance.receive(ReceivedMail(raw=RAW, mail_from="a@sender.org", recipients=("x@example.com",)), tls=True)
    assert len(runner.events) == 1
    assert runner.events[0]["Records"][0]["ses"]["receipt"]["action"]["invocationType"] == "RequestResponse"
    assert s3.objects == {}
    assert invoker.submitted == []


def test_stop_rule_skips_the_rest_of_the_rule_only() -> None:
    rules = [
        {
            "Name": "first",
            "Enabled": True,
            "Recipients": [],
            "Actions": [
                {"LambdaAction": {"FunctionArn": FN, "InvocationType": "RequestResponse"}},
                {"S3Action": {"BucketName": "skipped"}},
            ],
        },
        {
            "Name": "second",
            "Enabled": True,
            "Recipients": [],
            "Actions": [{"S3Action": {"BucketName": "later"}}],
        },
    ]
    instance, s3, _, _ = receiver(rules, payload={"disposition": "STOP_RULE"})
    mail = ReceivedMail(raw=RAW, mail_from="a@sender.org", recipients=("x@example.com",))
    instance.receive(mail, tls=True)
    assert list(s3.objects) == [f"later/{mail.message_id}"]


class AccountWithoutSuppression:
    """SES v2's GetAccount for an account that does not use the suppression list."""

    def get_account(self) -> dict[str, Any]:
        return {"SuppressionAttributes": {"SuppressedReasons": []}}


class SimpleMessage:
    """moto's ses Message (SendEmail with Simple content)."""

    id = "m-1"
    source = "App One <_app1@example.com>"
    subject = "Simple"
    body = "plain body"
    destinations: ClassVar[dict[str, list[str]]] = {
        "ToAddresses": ["_app2@example.com"],
        "CcAddresses": ["Bob <bob@elsewhere.org>"],
    }


def test_sent_mail_is_split_between_local_delivery_and_the_outbox(tmp_path: Any) -> None:
    rules = [
        {
            "Name": "r",
            "Enabled": True,
            "Recipients": ["example.com"],
            "Actions": [{"S3Action": {"BucketName": "b"}}],
        }
    ]
    instance, s3, _, _ = receiver(rules)
    store = OutboxStore(tmp_path / "outbox")
    simulator = SesSimulator(
        sesv2=AccountWithoutSuppression(), ses=None, sns=None, account_id="123456789012", region="eu-west-1"
    )
    watcher = OutboxWatcher(
        sent_messages=lambda: [SimpleMessage()], receiver=instance, store=store, simulator=simulator
    )
    sent = from_moto_message(SimpleMessage())
    assert sent.source == "_app1@example.com"
    assert sent.destinations == ("_app2@example.com", "bob@elsewhere.org")
    assert watcher.poll_once() == 1
    assert watcher.poll_once() == 0, "each sent message is routed once"
    (stored,) = s3.objects.values()
    assert b"Subject: Simple" in stored
    (entry,) = store.entries()
    assert (entry.number, entry.sender, entry.recipients, entry.subject) == (
        1,
        "_app1@example.com",
        ["bob@elsewhere.org"],
        "Simple",
    )
    assert entry.outcomes == {"bob@elsewhere.org": "delivered"}
    assert (entry.configuration_set, entry.events) == (None, []), "no configuration set: no events"
    assert b"plain body" in (store.raw(1) or b"")


def test_a_recipient_only_another_regions_rule_accepts_is_refused_naming_that_region() -> None:
    """SES receives per region: the emulator plays one, and says where the matching rule is."""
    rules = [{"Name": "main", "Enabled": True, "Recipients": ["example.com"], "Actions": []}]
    elsewhere = {
        "us-east-1": [{"Name": "other", "Enabled": True, "Recipients": ["other.example"], "Actions": []}]
    }
    instance = Receiver(
        ses_client=FakeSes(rules),
        s3_client=FakeS3(),
        runner=FakeRunner(),  # type: ignore[arg-type]
        async_invoker=FakeAsync(),  # type: ignore[arg-type]
        region="eu-west-1",
        other_regions=lambda: elsewhere,
    )
    refusal = instance.check_recipient("_app1@other.example", tls=True)
    assert refusal == (
        "550 5.1.1 Mailbox does not exist: its receipt rule is in us-east-1 and this emulator receives mail "
        "in eu-west-1 (mailflow local stop && mailflow local start --region us-east-1)"
    )
    assert instance.check_recipient("x@nowhere.example", tls=True) == "550 5.1.1 Mailbox does not exist"
    assert instance.check_recipient("_app1@example.com", tls=True) is None
    assert not instance.accepts("_app1@other.example"), "outbound mail to it goes to the outbox"
