"""Issue 11.3 / contract E: SES events about sent mail become one `outbound.event` each on the sending app's
queue.

The events are AWS's documented examples (tests/handler/ses_events/, verbatim), given Mailflow's tags
and configuration set the way SES passes on a send's `EmailTags` and `ConfigurationSetName` (AWS: "SES
supports the publishing of tags for all event types" through a configuration set, and adds
`ses:configuration-set`). SNS delivers them to the events queue wrapped in a notification
(`Type: Notification`, the event JSON as the `Message` string), or as the event JSON itself with raw
message delivery; both are tested.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mailflow_handler import clients, handler
from mailflow_handler.sestags import encode_value

from .conftest import (
    ACCOUNT,
    CONFIGURATION_SET,
    QUEUES,
    REGION,
    Env,
    make_config,
    ses_event,
    ses_record,
    simple_mime,
    sqs_records,
)

EXAMPLES = Path(__file__).resolve().parent / "ses_events"
SES_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:mailflow-test-ses-events"
# file -> (event, the addresses the event is about)
DOCUMENTED = {
    "bounce": ("bounce", ["recipient@example.com"]),
    "complaint": ("complaint", ["recipient@example.com"]),
    "delivery": ("delivery", ["recipient@example.com"]),
    "reject": ("reject", ["sender@example.com"]),
    "rendering_failure": ("renderingFailure", ["recipient@example.com"]),
    "delivery_delay": ("deliveryDelay", ["recipient@example.com"]),
    "send": ("send", ["recipient@example.com"]),
}


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.json").read_text()))


def tagged(event: dict[str, Any], app: str = "app1", cid: str = "reply-42") -> dict[str, Any]:
    """The event as SES publishes it for a Mailflow send: our tags, our configuration set."""
    event = copy.deepcopy(event)
    tags = event["mail"].setdefault("tags", {})
    tags["ses:configuration-set"] = [CONFIGURATION_SET]
    tags["mailflow-app"] = [encode_value(app)]
    tags["mailflow-cid"] = [encode_value(cid)]
    return event


def sns(event: dict[str, Any], message_id: str = "95df01b4-ee98-5cb9-9903-4c221d41eb5e") -> str:
    """The SNS notification SQS receives without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": TOPIC,
            "Message": json.dumps(event),
            "Timestamp": "2017-08-05T00:41:03.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def deliver(bodies: list[str], *, receive_count: int = 1) -> dict[str, Any]:
    return handler(sqs_records(bodies, "sesEvents", receive_count=receive_count), None)


def event_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "outbound event"]


@pytest.mark.parametrize("wrapped", [True, False], ids=["sns-envelope", "raw-delivery"])
@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_documented_event_reaches_the_app_once(
    aws_env: Env, event_validator: Any, capsys: pytest.CaptureFixture[str], name: str, wrapped: bool
) -> None:
    aws_env.write_config(feedback={"sendEvents": True})
    event = tagged(example(name))
    assert deliver([sns(event) if wrapped else json.dumps(event)]) == {"batchItemFailures": []}
    out = aws_env.drain_all()
    assert {k: len(v) for k, v in out.items() if v} == {"app1": 1}
    message = out["app1"][0]
    event_validator.validate(message)
    kind, recipients = DOCUMENTED[name]
    assert message["type"] == "outbound.event"
    assert (message["event"], message["app"], message["correlationId"]) == (kind, "app1", "reply-42")
    assert message["sesMessageId"] == SES_ID
    assert (message["recipients"], message["recipientsTotal"], message["truncated"]) == (recipients, 1, False)
    (line,) = event_lines(capsys.readouterr().out)
    assert (line["outcome"], line["event"], line["app"], line["correlationId"]) == (
        "delivered to app queue",
        kind,
        "app1",
        "reply-42",
    )
    assert line["sesMessageId"] == SES_ID
    assert isinstance(line["sqsMessageId"], str)
    assert line["sqsMessageId"]


def test_the_per_type_details_are_what_ses_said(aws_env: Env) -> None:
    for name in ("bounce", "complaint", "delivery_delay", "delivery", "reject", "rendering_failure"):
        deliver([sns(tagged(example(name)))])
    by_event = {m["event"]: m for m in aws_env.drain("app1")}
    assert by_event["bounce"]["bounce"] == {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "recipients": [
            {
                "address": "recipient@example.com",
                "status": "5.1.1",
                "action": "failed",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "recipientsTotal": 1,
    }
    assert by_event["complaint"]["complaint"]["feedbackType"] == "abuse"
    assert by_event["complaint"]["complaint"]["recipients"] == [{"address": "recipient@example.com"}]
    assert by_event["deliveryDelay"]["delay"]["delayType"] == "TransientCommunicationFailure"
    assert by_event["deliveryDelay"]["delay"]["expirationTime"] == "2020-06-16T00:25:40.914Z"
    assert by_event["delivery"]["delivery"] == {
        "smtpResponse": "250 2.6.0 Message received",
        "processingTimeMillis": 11893,
        "reportingMTA": "mta.example.com",
    }
    assert by_event["reject"]["reject"] == {"reason": "Bad content"}
    assert by_event["renderingFailure"]["renderingFailure"]["templateName"] == "MyTemplate"
    assert by_event["bounce"]["eventTimestamp"] == "2017-08-05T00:41:02.669Z"
    assert by_event["reject"]["eventTimestamp"] == "2016-10-14T17:38:15.211Z"  # the send time
    for message in by_event.values():
        others = {"bounce", "complaint", "delay", "delivery", "reject", "renderingFailure"}
        field = {"deliveryDelay": "delay"}.get(message["event"], message["event"])
        assert all(message[other] is None for other in others - {field})


def test_a_suppressed_recipient_is_reported_as_the_bounce_ses_publishes(aws_env: Env) -> None:
    """AWS ("Bounce types"): for an address on the account-level suppression list SES accepts the send and
    publishes a Bounce, Permanent / OnAccountSuppressionList. The app gets that bounce; the status said
    `sent`, as SES accepted the request."""
    event = tagged(example("bounce"))
    event["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    del event["bounce"]["bouncedRecipients"][0]["diagnosticCode"]
    deliver([sns(event)])
    (message,) = aws_env.drain("app1")
    assert (message["bounce"]["bounceType"], message["bounce"]["bounceSubType"]) == (
        "Permanent",
        "OnAccountSuppressionList",
    )
    assert message["bounce"]["recipients"][0]["diagnosticCode"] is None


def test_send_events_are_off_by_default(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert deliver([sns(tagged(example("send")))]) == {"batchItemFailures": []}
    assert aws_env.drain("app1") == []
    (line,) = event_lines(capsys.readouterr().out)
    assert (line["outcome"], line["event"]) == ("ignored", "send")


def test_an_open_event_is_not_forwarded(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert deliver([sns(tagged(example("open")))]) == {"batchItemFailures": []}
    assert aws_env.drain("app1") == []
    assert event_lines(capsys.readouterr().out)[0]["outcome"] == "ignored"


def test_an_sns_redelivery_yields_no_second_message(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    body = sns(tagged(example("bounce")))
    calls: list[str] = []
    deliver([body])  # the address hash key is made here, once per table
    first = aws_env.drain("app1")
    for service in ("sqs", "dynamodb"):
        clients.client(service).meta.events.register(
            f"before-call.{service}.*", lambda model, **_: calls.append(model.name)
        )
    deliver([body], receive_count=2)
    assert aws_env.drain("app1") == []
    assert calls == ["GetItem"]  # the done record, read; nothing written, nothing sent
    delivered, duplicate = event_lines(capsys.readouterr().out)
    assert (delivered["outcome"], duplicate["outcome"]) == ("delivered to app queue", "duplicate")
    assert duplicate["sqsMessageId"] == delivered["sqsMessageId"] is not None
    assert len(first) == 1


def test_one_idempotency_write_and_one_send_per_event(aws_env: Env) -> None:
    deliver([sns(tagged(example("delivery")))])  # warm: queue URL and hash key, once per container
    aws_env.drain("app1")
    calls: list[str] = []
    for service in ("sqs", "dynamodb"):
        clients.client(service).meta.events.register(
            f"before-call.{service}.*", lambda model, **_: calls.append(model.name)
        )
    deliver([sns(tagged(example("bounce")))])
    assert sorted(calls) == ["GetItem", "PutItem", "SendMessage"]
    assert len(aws_env.drain("app1")) == 1


def test_a_crash_between_send_and_record_resends_the_same_id(
    aws_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented window: the message is out but the done record was not written. The redelivery
    sends it again with the same `id`, so an app that deduplicates on `id` sees it once."""
    from botocore.exceptions import ClientError

    body = sns(tagged(example("complaint")))
    ddb = clients.client("dynamodb")
    real_put = ddb.put_item

    def failing_put(**kwargs: Any) -> Any:
        if kwargs["Item"]["id"]["S"].startswith("outbound-event#"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
        return real_put(**kwargs)

    monkeypatch.setattr(ddb, "put_item", failing_put)
    assert deliver([body]) == {"batchItemFailures": []}
    monkeypatch.setattr(ddb, "put_item", real_put)
    deliver([body], receive_count=2)
    first, second = aws_env.drain("app1")
    assert first["id"] == second["id"]
    assert "outbound event not recorded as done" in capsys.readouterr().out


def test_the_id_differs_per_event_and_is_stable(aws_env: Env) -> None:
    bounce = tagged(example("bounce"))
    later = copy.deepcopy(bounce)
    later["bounce"]["feedbackId"] = "another-feedback-id"
    deliver([sns(bounce), json.dumps(later)])
    deliver([json.dumps(bounce)], receive_count=2)  # raw copy of the first: a duplicate
    messages = aws_env.drain("app1")
    assert len(messages) == 2
    assert len({m["id"] for m in messages}) == 2


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({}, "mailflow-app"),
        ({"mailflow-app": ["app1"]}, "mailflow-cid"),
        ({"mailflow-app": ["app1", "app2"], "mailflow-cid": ["c"]}, "mailflow-app"),
        ({"mailflow-app": ["app1!"], "mailflow-cid": ["c"]}, "mailflow-app"),
        ({"mailflow-app": ["app1"], "mailflow-cid": ["b64-!!"]}, "mailflow-cid"),
        ({"mailflow-app": ["app1"], "mailflow-cid": ["b64-YQ=="]}, "mailflow-cid"),  # not canonical
        ({"mailflow-app": ["app1"], "mailflow-cid": ["b64-_w"]}, "mailflow-cid"),  # not UTF-8
        ({"mailflow-app": "app1", "mailflow-cid": ["c"]}, "mailflow-app"),
        ({"mailflow-app": [7], "mailflow-cid": ["c"]}, "mailflow-app"),
    ],
)
def test_events_without_usable_tags_are_logged_never_queued(
    aws_env: Env, capsys: pytest.CaptureFixture[str], tags: dict[str, Any], reason: str
) -> None:
    event = example("bounce")
    event["mail"]["tags"] = {"ses:configuration-set": [CONFIGURATION_SET], **tags}
    assert deliver([sns(event)]) == {"batchItemFailures": []}
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    (line,) = event_lines(capsys.readouterr().out)
    assert line["outcome"] == "unattributed"
    assert reason in line["reason"]


def test_the_documented_examples_as_they_are_are_not_ours(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Mailflow tags and another configuration set (`ConfigSet`): not attributed to any app."""
    deliver([sns(example(name)) for name in DOCUMENTED])
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    outcomes = {line["outcome"] for line in event_lines(capsys.readouterr().out)}
    assert outcomes == {"unattributed", "ignored"}  # ignored: the Send event, with sendEvents off


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e["mail"]["tags"].update({"ses:configuration-set": ["ConfigSet"]}), "configuration set"),
        (lambda e: e["mail"].update({"sendingAccountId": "999999999999"}), "account"),
    ],
    ids=["other-configuration-set", "other-account"],
)
def test_events_of_another_stack_are_not_attributed(
    aws_env: Env, capsys: pytest.CaptureFixture[str], change: Any, reason: str
) -> None:
    event = tagged(example("delivery"))
    change(event)
    deliver([sns(event)])
    assert aws_env.drain("app1") == []
    (line,) = event_lines(capsys.readouterr().out)
    assert line["outcome"] == "unattributed"
    assert reason in line["reason"]


def test_an_app_no_longer_configured(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert deliver([sns(tagged(example("bounce"), app="retired"))]) == {"batchItemFailures": []}
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    (line,) = event_lines(capsys.readouterr().out)
    assert (line["outcome"], line["app"]) == ("app not configured", "retired")


def test_an_encoded_correlation_id_comes_back_as_the_app_wrote_it(aws_env: Env) -> None:
    cid = "Bestellung 42 / Größe: ½ ✓"
    deliver([sns(tagged(example("delivery"), cid=cid))])
    (message,) = aws_env.drain("app1")
    assert message["correlationId"] == cid


MALFORMED = {
    "not JSON": "{not json",
    "a JSON array": "[1, 2]",
    "an SNS subscription confirmation": json.dumps({"Type": "SubscriptionConfirmation", "Message": "{}"}),
    "an SNS notification without Message": json.dumps({"Type": "Notification"}),
    "an SNS Message that is not JSON": json.dumps({"Type": "Notification", "Message": "hello"}),
    "no eventType": json.dumps({"mail": {"messageId": "x"}}),
    "an identity notification": json.dumps({"notificationType": "Bounce", "mail": {"messageId": "x"}}),
    "no mail": json.dumps({"eventType": "Bounce", "bounce": {"bouncedRecipients": []}}),
    "a bad messageId": json.dumps({"eventType": "Delivery", "mail": {"messageId": "../x"}, "delivery": {}}),
    "a bounce without its object": json.dumps({"eventType": "Bounce", "mail": {"messageId": "m-1"}}),
    "a bounce without recipients": json.dumps(
        {"eventType": "Bounce", "mail": {"messageId": "m-1"}, "bounce": {"bounceType": "Permanent"}}
    ),
    "an unknown eventType": json.dumps({"eventType": "Teleport", "mail": {"messageId": "m-1"}}),
    "nesting beyond the JSON parser's depth": "[" * 100_000 + "]" * 100_000,
    "an outbound request": json.dumps({"correlationId": "c", "source": "app1", "email": {}}),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_body_is_returned_to_sqs_for_the_dlq(
    aws_env: Env, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    event = sqs_records([body], "sesEvents")
    record_id = event["Records"][0]["messageId"]
    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": record_id}]}
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    (line,) = event_lines(capsys.readouterr().out)
    assert (line["outcome"], line["retry"], line["sourceMessageId"]) == ("malformed", True, record_id)
    assert line["reason"]


def test_the_dlq_path_with_sqs_redrive(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """What the event source mapping does with a reported item (AWS: it stays on the queue, and after the
    queue's maxReceiveCount SQS moves it to the DLQ); moto implements the redrive. A good event in the
    same batch is delivered and deleted."""
    sqs = aws_env.sqs
    dlq_url = sqs.create_queue(QueueName="mf-ses-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = aws_env.urls["sesEvents"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=sns(tagged(example("delivery"))))
    for _ in range(3):  # the mapping's polls
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        messages = got.get("Messages", [])
        if not messages:
            continue
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUES['sesEvents']}",
            }
            for m in messages
        ]
        failed = {f["itemIdentifier"] for f in handler({"Records": records}, None)["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [m["event"] for m in aws_env.drain("app1")] == ["delivery"]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["{not json"]
    assert [line["outcome"] for line in event_lines(capsys.readouterr().out)].count("malformed") == 2


def test_ten_thousand_bounced_recipients_make_a_bounded_message(aws_env: Env, event_validator: Any) -> None:
    event = tagged(example("bounce"))
    event["bounce"]["bouncedRecipients"] = [
        {
            "emailAddress": f"user{i}@example.net",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 " + "x" * 5000,
        }
        for i in range(10_000)
    ]
    event["mail"]["destination"] = [f"user{i}@example.net" for i in range(10_000)]
    deliver([json.dumps(event)])
    (message,) = aws_env.drain("app1")
    event_validator.validate(message)
    assert (len(message["recipients"]), message["recipientsTotal"]) == (50, 10_000)
    assert (len(message["bounce"]["recipients"]), message["bounce"]["recipientsTotal"]) == (50, 10_000)
    assert message["truncated"] is True
    assert len(message["bounce"]["recipients"][0]["diagnosticCode"]) == 1000


def test_hostile_texts_still_fit_the_queue(aws_env: Env, event_validator: Any) -> None:
    """Diagnostic codes of control characters grow sixfold as JSON escapes: the message keeps fewer
    entries until it fits `limits.sqsMaxMessageBytes` (262,144 in these tests)."""
    event = tagged(example("bounce"))
    event["bounce"]["bouncedRecipients"] = [
        {"emailAddress": f"u{i}@example.net", "diagnosticCode": "\x01" * 5000} for i in range(200)
    ]
    deliver([json.dumps(event)])
    (message,) = aws_env.drain("app1")
    event_validator.validate(message)
    assert 0 < len(message["bounce"]["recipients"]) < 50
    assert message["truncated"] is True
    assert len(json.dumps(message).encode()) <= 262_144


def test_records_are_told_apart_by_their_queue_never_by_their_body(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SES event put on the outbound queue is an outbound request (a bad one: no source), and the
    events path is never asked about it."""
    handler(sqs_records([sns(tagged(example("bounce")))], "outbound"), None)
    assert aws_env.drain("app1") == []
    assert [m["reason"] for m in aws_env.drain("outboundDlq")] == ["unknown_source"]
    assert event_lines(capsys.readouterr().out) == []


def test_without_an_events_queue_in_the_config_every_sqs_record_is_an_outbound_request(
    aws_env: Env,
) -> None:
    """A runtime config written before the feedback path existed has no `queues.sesEvents`."""
    document = make_config()
    del document["queues"]["sesEvents"]
    aws_env.config_path.write_text(json.dumps(document))
    clients.reset()
    handler(sqs_records([sns(tagged(example("bounce")))], "sesEvents"), None)
    assert [m["reason"] for m in aws_env.drain("outboundDlq")] == ["unknown_source"]


def test_the_handler_never_writes_the_queues_it_consumes(aws_env: Env) -> None:
    """The handler consumes the outbound and events queues and never writes them, nor the events DLQ
    (only SQS's redrive does): the role has no SendMessage or GetQueueUrl on them. Inbound mail, outbound
    requests (sent, refused, dead-lettered) and SES events (delivered, malformed, unattributed)."""
    used: list[str] = []
    clients.client("sqs").meta.events.register(
        "before-parameter-build.sqs.*",
        lambda model, params, **_: used.append(
            f"{model.name} {params.get('QueueName') or params['QueueUrl']}"
        ),
    )
    handler(
        ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com", "x@example.com"])), None
    )
    request = {
        "correlationId": "c-1",
        "source": "app1",
        "email": {"from": "_app1@example.com", "to": "someone@example.net", "body": {"text": "t"}},
    }
    handler(
        sqs_records([request, {**request, "correlationId": "c-2", "email": {}}, "{bad"], "outbound"), None
    )
    deliver([sns(tagged(example(name))) for name in DOCUMENTED] + ["{bad", sns(example("bounce"))])
    written = {call.rpartition("/")[2].split()[-1] for call in used}
    assert written == {QUEUES["app1"], QUEUES["default"], QUEUES["outboundDlq"]}, used


def test_the_log_line_hashes_every_address_and_names_none(
    aws_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    from mailflow_handler.addresses import address_hash, container_key

    deliver([sns(tagged(example("bounce")))])
    out = capsys.readouterr().out
    (line,) = event_lines(out)
    key = container_key(clients.client("dynamodb"), "mf-idempotency")
    assert line["addressHashes"].split() == [
        address_hash(key, "sender@example.com"),
        address_hash(key, "recipient@example.com"),
    ]
    assert (line["bounceType"], line["bounceSubType"]) == ("Permanent", "General")
    assert "recipient@example.com" not in out
    assert "sender@example.com" not in out


def test_feedback_metrics_only_when_asked(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    deliver([sns(tagged(example("delivery"))), sns(example("bounce")), "{bad"])
    assert [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line] == []
    aws_env.write_config(observability={"metrics": True})
    deliver([sns(tagged(example("complaint"))), sns(example("bounce")), "{bad"])
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (emf["FeedbackEvents"], emf["FeedbackUnattributed"], emf["FeedbackMalformed"]) == (1, 1, 1)
