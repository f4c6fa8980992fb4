"""SES's mailbox simulator and event publishing in the emulator, against moto in-process with the
emulator's patches: a configuration set with an SNS event destination, the topic, a queue subscribed to
it, a send through SES v2 as the handler makes it, and the events that reach the queue.

AWS behaviour relied on: "Using the mailbox simulator" (the five addresses, +labels, bounces of one
send combined, simulator addresses never suppressed), "Contents of event data that Amazon SES publishes
to Amazon SNS" and its examples (the record shapes), the account-level and configuration set-level
suppression list pages, "Testing Reject events" (the EICAR file), and SNS raw message delivery.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest

from mailflow_cli.local import moto_patches
from mailflow_cli.local.moto_ses_send import sent_mail
from mailflow_cli.local.outbox import OutboxStore, OutboxWatcher
from mailflow_cli.local.receipt_rules import Evaluation
from mailflow_cli.local.receiving import Receipt
from mailflow_cli.local.ses_event import ReceivedMail
from mailflow_cli.local.ses_simulator import EICAR, Fate, SesSimulator

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CONFIG_SET = "mailflow-dev"
SENDER = "_app1@example.com"
ALL_TYPES = ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT"]
SUCCESS, BOUNCE = "success@simulator.amazonses.com", "bounce@simulator.amazonses.com"
OOTO, COMPLAINT = "ooto@simulator.amazonses.com", "complaint@simulator.amazonses.com"
SUPPRESSIONLIST = "suppressionlist@simulator.amazonses.com"

# The fields of AWS's documented example records ("Examples of event data that Amazon SES publishes to
# Amazon SNS"), which the emulator's records must have, no more and no less.
MAIL_FIELDS = {
    "timestamp",
    "source",
    "sourceArn",
    "sendingAccountId",
    "messageId",
    "destination",
    "headersTruncated",
    "headers",
    "commonHeaders",
    "tags",
}
DELIVERY_FIELDS = {"timestamp", "processingTimeMillis", "recipients", "smtpResponse", "reportingMTA"}
BOUNCE_FIELDS = {
    "bounceType",
    "bounceSubType",
    "bouncedRecipients",
    "timestamp",
    "feedbackId",
    "reportingMTA",
}
BOUNCED_RECIPIENT_FIELDS = {"emailAddress", "action", "status", "diagnosticCode"}
COMPLAINT_FIELDS = {
    "complainedRecipients",
    "timestamp",
    "feedbackId",
    "userAgent",
    "complaintFeedbackType",
    "arrivalDate",
}


@dataclass
class LocalDomain:
    """The emulator's SES receiving, for one domain: what it was asked to deliver."""

    domain: str = "example.com"
    received: list[ReceivedMail] = field(default_factory=list)

    def accepts(self, address: str) -> bool:
        return address.endswith(f"@{self.domain}")

    def receive(self, mail: ReceivedMail, *, tls: bool) -> Receipt:
        self.received.append(mail)
        return Receipt(message_id=mail.message_id, evaluation=Evaluation())


@dataclass
class World:
    sesv2: Any
    ses: Any
    sns: Any
    sqs: Any
    topic: str
    raw_queue: str
    envelope_queue: str
    local: LocalDomain
    store: OutboxStore
    watcher: OutboxWatcher

    def send(self, *to: str, message: EmailMessage | None = None, **options: Any) -> str:
        """Send as the handler does: SES v2, raw content, the configuration set and Mailflow's tags."""
        mime = message or plain(to)
        options.setdefault("ConfigurationSetName", CONFIG_SET)
        options.setdefault(
            "EmailTags", [{"Name": "mailflow-app", "Value": "app1"}, {"Name": "mailflow-cid", "Value": "c-1"}]
        )
        response = self.sesv2.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": list(to)},
            Content={"Raw": {"Data": mime.as_bytes()}},
            **{key: value for key, value in options.items() if value is not None},
        )
        assert self.watcher.poll_once() == 1
        return str(response["MessageId"])

    def events(self, queue: str | None = None) -> list[dict[str, Any]]:
        """The event records on the raw-delivery queue (or the SNS envelopes on another)."""
        url = queue or self.raw_queue
        found: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def destination(self, **changes: Any) -> None:
        destination = {
            "Enabled": True,
            "MatchingEventTypes": ALL_TYPES,
            "SnsDestination": {"TopicArn": self.topic},
            **changes,
        }
        self.sesv2.update_configuration_set_event_destination(
            ConfigurationSetName=CONFIG_SET,
            EventDestinationName="to-sns",
            EventDestination={key: value for key, value in destination.items() if value is not None},
        )


def plain(to: tuple[str, ...] | list[str], subject: str = "Invoice") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = "<m-1@example.com>"
    message.set_content("Hello.\n")
    return message


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from moto import mock_aws

    undo = moto_patches.install_moto_compat(emulator=True)
    try:
        with mock_aws():
            clients = {
                name: boto3.client(name, region_name=REGION) for name in ("ses", "sesv2", "sns", "sqs")
            }
            sesv2, sns, sqs = clients["sesv2"], clients["sns"], clients["sqs"]
            clients["ses"].verify_domain_identity(Domain="example.com")
            topic = sns.create_topic(Name="mailflow-dev-ses-events")["TopicArn"]
            raw_url, raw_arn = queue(sqs, "mailflow-dev-ses-events")
            envelope_url, envelope_arn = queue(sqs, "envelopes")
            sns.subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
            )
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=envelope_arn)
            sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
            sesv2.create_configuration_set_event_destination(
                ConfigurationSetName=CONFIG_SET,
                EventDestinationName="to-sns",
                EventDestination={
                    "Enabled": True,
                    "MatchingEventTypes": ALL_TYPES,
                    "SnsDestination": {"TopicArn": topic},
                },
            )
            local, store = LocalDomain(), OutboxStore(tmp_path / "outbox")
            simulator = SesSimulator(
                sesv2=sesv2, ses=clients["ses"], sns=sns, account_id=ACCOUNT, region=REGION
            )
            watcher = OutboxWatcher(
                sent_messages=lambda: sent_mail(ACCOUNT, REGION),
                receiver=local,
                store=store,
                simulator=simulator,
            )
            yield World(sesv2, clients["ses"], sns, sqs, topic, raw_url, envelope_url, local, store, watcher)
    finally:
        undo()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [str(event["eventType"]) for event in events]


def test_success_is_a_send_and_a_delivery_in_ses_s_documented_shape(world: World) -> None:
    message_id = world.send(SUCCESS)
    send, delivery = world.events()
    assert types([send, delivery]) == ["Send", "Delivery"]
    assert send["send"] == {}
    for event in (send, delivery):
        assert set(event) == {"eventType", "mail", event["eventType"].lower()}
        mail = event["mail"]
        assert set(mail) == MAIL_FIELDS
        assert mail["messageId"] == message_id
        assert mail["source"] == SENDER
        assert mail["sourceArn"] == f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.com"
        assert mail["sendingAccountId"] == ACCOUNT
        assert mail["destination"] == [SUCCESS]
        assert mail["headersTruncated"] is False
        assert {"name": "Subject", "value": "Invoice"} in mail["headers"]
        assert mail["commonHeaders"] == {
            "from": [SENDER],
            "to": [SUCCESS],
            "messageId": "<m-1@example.com>",
            "subject": "Invoice",
        }
        assert mail["tags"]["mailflow-app"] == ["app1"]
        assert mail["tags"]["mailflow-cid"] == ["c-1"]
        assert mail["tags"]["ses:configuration-set"] == [CONFIG_SET]
        assert mail["tags"]["ses:from-domain"] == ["example.com"]
    assert set(delivery["delivery"]) == DELIVERY_FIELDS
    assert delivery["delivery"]["recipients"] == [SUCCESS]
    assert delivery["delivery"]["smtpResponse"] == "250 2.6.0 Message received"
    assert delivery["mail"]["tags"]["ses:outgoing-ip"] == ["127.0.0.1"]
    (entry,) = world.store.entries()
    assert entry.outcomes == {SUCCESS: Fate.DELIVERED.value}
    assert (entry.configuration_set, entry.events) == (CONFIG_SET, ["Send", "Delivery"])


def test_bounce_is_a_permanent_general_bounce_and_never_suppressed(world: World) -> None:
    world.sesv2.put_configuration_set_suppression_options(
        ConfigurationSetName=CONFIG_SET, SuppressedReasons=["BOUNCE", "COMPLAINT"]
    )
    world.send(BOUNCE)
    send, bounce = world.events()
    assert types([send, bounce]) == ["Send", "Bounce"]
    detail = bounce["bounce"]
    assert set(detail) == BOUNCE_FIELDS
    assert (detail["bounceType"], detail["bounceSubType"]) == ("Permanent", "General")
    assert detail["bouncedRecipients"] == [
        {
            "emailAddress": BOUNCE,
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        }
    ]
    assert world.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"] == [], (
        "SES does not put the simulator's addresses on the suppression list"
    )
    (entry,) = world.store.entries()
    assert entry.outcomes == {BOUNCE: Fate.BOUNCED.value}


def test_ooto_is_delivered(world: World) -> None:
    world.send(OOTO)
    assert types(world.events()) == ["Send", "Delivery"]
    (entry,) = world.store.entries()
    assert entry.outcomes == {OOTO: Fate.OUT_OF_OFFICE.value}


def test_complaint_is_delivered_then_complained_about(world: World) -> None:
    world.sesv2.put_account_suppression_attributes(SuppressedReasons=["BOUNCE", "COMPLAINT"])
    world.send(COMPLAINT)
    send, delivery, complaint = world.events()
    assert types([send, delivery, complaint]) == ["Send", "Delivery", "Complaint"]
    detail = complaint["complaint"]
    assert set(detail) == COMPLAINT_FIELDS
    assert detail["complainedRecipients"] == [{"emailAddress": COMPLAINT}]
    assert detail["complaintFeedbackType"] == "abuse"
    assert world.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"] == []


def test_suppressionlist_bounces_as_a_suppressed_address_without_a_delivery(world: World) -> None:
    world.send(SUPPRESSIONLIST)
    send, bounce = world.events()
    assert types([send, bounce]) == ["Send", "Bounce"]
    detail = bounce["bounce"]
    assert (detail["bounceType"], detail["bounceSubType"]) == ("Permanent", "OnAccountSuppressionList")
    (recipient,) = detail["bouncedRecipients"]
    assert set(recipient) == BOUNCED_RECIPIENT_FIELDS
    assert recipient["emailAddress"] == SUPPRESSIONLIST
    assert "on the suppression list for your account" in recipient["diagnosticCode"]


def test_labels_and_several_recipients_one_event_per_kind(world: World) -> None:
    """The simulator ignores +labels, and SES combines the bounces of one send into one response."""
    labelled = "bounce+order-7@simulator.amazonses.com"
    world.send(SUCCESS, BOUNCE, labelled, "Complaint+x@Simulator.AmazonSES.com")
    events = world.events()
    assert types(events) == ["Send", "Delivery", "Bounce", "Complaint"]
    _, delivery, bounce, complaint = events
    assert delivery["delivery"]["recipients"] == [SUCCESS, "complaint+x@simulator.amazonses.com"]
    assert [r["emailAddress"] for r in bounce["bounce"]["bouncedRecipients"]] == [BOUNCE, labelled]
    assert complaint["complaint"]["complainedRecipients"] == [
        {"emailAddress": "complaint+x@simulator.amazonses.com"}
    ]


def test_an_address_on_the_account_list_is_accepted_bounced_and_not_sent(world: World) -> None:
    world.sesv2.put_account_suppression_attributes(SuppressedReasons=["BOUNCE"])
    world.sesv2.put_suppressed_destination(EmailAddress="gone@elsewhere.org", Reason="BOUNCE")
    world.sesv2.put_suppressed_destination(EmailAddress="_app2@example.com", Reason="COMPLAINT")
    world.send("Gone@Elsewhere.org", "_app2@example.com", "kept@elsewhere.org")
    send, delivery, bounce = world.events()
    assert types([send, delivery, bounce]) == ["Send", "Delivery", "Bounce"]
    assert delivery["delivery"]["recipients"] == ["kept@elsewhere.org"]
    assert bounce["bounce"]["bounceSubType"] == "OnAccountSuppressionList"
    assert [r["emailAddress"] for r in bounce["bounce"]["bouncedRecipients"]] == [
        "gone@elsewhere.org",
        "_app2@example.com",
    ]
    assert world.local.received == [], "a suppressed local recipient is not delivered"
    (entry,) = world.store.entries()
    assert entry.outcomes == {
        "gone@elsewhere.org": Fate.SUPPRESSED.value,
        "_app2@example.com": Fate.SUPPRESSED.value,
        "kept@elsewhere.org": Fate.DELIVERED.value,
    }


def test_the_configuration_set_s_suppression_options_override_the_account_s(world: World) -> None:
    world.sesv2.put_suppressed_destination(EmailAddress="gone@elsewhere.org", Reason="BOUNCE")
    world.sesv2.put_account_suppression_attributes(SuppressedReasons=[])
    world.send("gone@elsewhere.org")
    assert types(world.events()) == ["Send", "Delivery"], "the list is off for the account"
    world.sesv2.put_configuration_set_suppression_options(
        ConfigurationSetName=CONFIG_SET, SuppressedReasons=["BOUNCE", "COMPLAINT"]
    )
    world.send("gone@elsewhere.org")
    assert types(world.events()) == ["Send", "Bounce"], "the configuration set turns it on"
    world.sesv2.put_account_suppression_attributes(SuppressedReasons=["BOUNCE", "COMPLAINT"])
    world.sesv2.put_configuration_set_suppression_options(
        ConfigurationSetName=CONFIG_SET, SuppressedReasons=[]
    )
    world.send("gone@elsewhere.org")
    assert types(world.events()) == ["Send", "Delivery"], "the configuration set turns it off"


def test_matching_event_types_choose_what_is_published(world: World) -> None:
    world.destination(MatchingEventTypes=["BOUNCE"])
    world.send(SUCCESS)
    assert world.events() == []
    world.send(BOUNCE)
    assert types(world.events()) == ["Bounce"]
    entries = world.store.entries()
    assert [entry.events for entry in entries] == [[], ["Bounce"]]


def test_a_disabled_destination_gets_nothing(world: World) -> None:
    world.destination(Enabled=False)
    world.send(BOUNCE)
    assert world.events() == []
    (entry,) = world.store.entries()
    assert entry.outcomes == {BOUNCE: Fate.BOUNCED.value}, "the simulator still bounced it"


def test_a_send_without_a_configuration_set_publishes_nothing(world: World) -> None:
    world.send(BOUNCE, ConfigurationSetName=None, EmailTags=None)
    assert world.events() == []
    (entry,) = world.store.entries()
    assert (entry.configuration_set, entry.events, entry.outcomes) == (None, [], {BOUNCE: Fate.BOUNCED.value})


def test_destinations_other_than_sns_are_not_emulated(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.destination(
        SnsDestination=None,
        CloudWatchDestination={
            "DimensionConfigurations": [
                {"DimensionName": "app", "DimensionValueSource": "MESSAGE_TAG", "DefaultDimensionValue": "x"}
            ]
        },
    )
    with caplog.at_level(logging.WARNING, logger="mailflow.local.ses"):
        world.send(SUCCESS)
    assert world.events() == []
    assert "event destination to-sns (CloudWatchDestination) is not emulated" in caplog.text


def test_sns_envelopes_carry_the_event_as_their_message(world: World) -> None:
    world.send(BOUNCE)
    envelopes = world.events(world.envelope_queue)
    assert [envelope["Type"] for envelope in envelopes] == ["Notification", "Notification"]
    assert {envelope["TopicArn"] for envelope in envelopes} == {world.topic}
    assert types([json.loads(envelope["Message"]) for envelope in envelopes]) == ["Send", "Bounce"]


def test_a_virus_is_rejected_and_sent_to_nobody(world: World) -> None:
    message = plain([SUCCESS, "_app2@example.com"])
    message.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="sample.txt")
    assert EICAR not in message.as_bytes(), "the attachment travels base64-encoded"
    world.send(SUCCESS, "_app2@example.com", message=message)
    send, reject = world.events()
    assert types([send, reject]) == ["Send", "Reject"]
    assert reject["reject"] == {"reason": "Bad content"}
    assert world.local.received == []
    (entry,) = world.store.entries()
    assert set(entry.outcomes.values()) == {Fate.REJECTED.value}


def test_local_recipients_are_delivered_through_receiving_and_reported_delivered(world: World) -> None:
    world.send("_app2@example.com", BOUNCE)
    (received,) = world.local.received
    assert received.recipients == ("_app2@example.com",)
    _, delivery, _ = world.events()
    assert delivery["delivery"]["recipients"] == ["_app2@example.com"]
    (entry,) = world.store.entries()
    assert entry.recipients == [BOUNCE], "the outbox keeps what was not delivered locally"


def test_simulator_addresses_are_never_delivered_locally(world: World) -> None:
    world.local.domain = "simulator.amazonses.com"
    world.send(SUCCESS)
    assert world.local.received == []


def test_headers_over_10_kb_are_truncated(world: World) -> None:
    message = plain([SUCCESS])
    for number in range(12):
        message[f"X-Filler-{number}"] = base64.b64encode(bytes(700)).decode()
    world.send(SUCCESS, message=message)
    send, _ = world.events()
    assert send["mail"]["headersTruncated"] is True
    kept = send["mail"]["headers"]
    assert sum(len(h["name"]) + len(h["value"]) for h in kept) <= 10 * 1024
    assert kept[0]["name"] == "From", "the first headers are kept"


def test_the_source_arn_names_the_identity_that_authorised_the_send(world: World) -> None:
    world.ses.verify_email_identity(EmailAddress=SENDER)
    world.send(SUCCESS)
    send, _ = world.events()
    assert send["mail"]["sourceArn"] == f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER}"


def test_a_v1_send_through_the_configuration_set_publishes_too(world: World) -> None:
    world.ses.send_raw_email(
        Source=SENDER,
        Destinations=[BOUNCE],
        RawMessage={"Data": plain([BOUNCE]).as_bytes()},
        ConfigurationSetName=CONFIG_SET,
        Tags=[{"Name": "mailflow-app", "Value": "app1"}],
    )
    assert world.watcher.poll_once() == 1
    send, bounce = world.events()
    assert types([send, bounce]) == ["Send", "Bounce"]
    assert bounce["mail"]["tags"]["mailflow-app"] == ["app1"]
