"""moto patches 8 and 9: SES sends keep their configuration set, tags and recipients and are refused as
SES refuses them; an SNS delivery that fails never fails Publish (AWS: SES API references of SendEmail
v1/v2, MessageTag; SNS: delivery failures are retried and dropped by SNS, not returned to the caller)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mailflow_cli.local import moto_patches
from mailflow_cli.local.moto_ses_send import send_options, sent_mail, tag_problem

REGION = "eu-west-1"
ACCOUNT = "123456789012"
RAW = b"From: _app1@example.com\r\nTo: b@x.org, header-only@x.org\r\nSubject: s\r\n\r\nhi\r\n"


@pytest.fixture
def clients() -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    undo = moto_patches.install_moto_compat(emulator=True)
    try:
        with mock_aws():
            found = {name: boto3.client(name, region_name=REGION) for name in ("ses", "sesv2", "sns", "sqs")}
            found["ses"].verify_domain_identity(Domain="example.com")
            found["sesv2"].create_configuration_set(ConfigurationSetName="mailflow-dev")
            yield found
    finally:
        undo()


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def send_v2(sesv2: Any, **options: Any) -> str:
    return str(
        sesv2.send_email(
            FromEmailAddress="_app1@example.com",
            Destination={"ToAddresses": ["B@x.org"], "BccAddresses": ["hidden@x.org"]},
            Content={"Raw": {"Data": RAW}},
            **options,
        )["MessageId"]
    )


def test_a_v2_send_keeps_its_configuration_set_tags_and_named_recipients(clients: dict[str, Any]) -> None:
    tags = [{"Name": "mailflow-app", "Value": "app1"}, {"Name": "mailflow-cid", "Value": "b64.Zm9v@x_y-z"}]
    message_id = send_v2(clients["sesv2"], ConfigurationSetName="mailflow-dev", EmailTags=tags)
    (message,) = sent_mail(ACCOUNT, REGION)
    options = send_options(message)
    assert message.id == message_id
    assert options is not None
    assert options.configuration_set == "mailflow-dev"
    assert options.tags == (("mailflow-app", "app1"), ("mailflow-cid", "b64.Zm9v@x_y-z"))
    assert options.destinations == ("B@x.org", "hidden@x.org"), "the request's recipients, not the headers'"


def test_v1_sends_keep_theirs_too(clients: dict[str, Any]) -> None:
    ses = clients["ses"]
    ses.send_raw_email(
        Source="_app1@example.com",
        Destinations=["b@x.org"],
        RawMessage={"Data": RAW},
        ConfigurationSetName="mailflow-dev",
        Tags=[{"Name": "mailflow-app", "Value": "app1"}],
    )
    ses.send_email(
        Source="_app1@example.com",
        Destination={"ToAddresses": ["b@x.org"], "CcAddresses": ["c@x.org"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )
    raw, simple = (send_options(m) for m in sent_mail(ACCOUNT, REGION))
    assert raw is not None
    assert simple is not None
    assert (raw.configuration_set, raw.tags, raw.destinations) == (
        "mailflow-dev",
        (("mailflow-app", "app1"),),
        ("b@x.org",),
    )
    assert (simple.configuration_set, simple.tags, simple.destinations) == (None, (), ("b@x.org", "c@x.org"))


def test_an_unknown_configuration_set_is_refused_and_nothing_is_sent(clients: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as v2:
        send_v2(clients["sesv2"], ConfigurationSetName="nope")
    assert code(v2) == "NotFoundException"
    assert "Configuration set <nope> does not exist." in str(v2.value)
    with pytest.raises(ClientError) as v1:
        clients["ses"].send_raw_email(RawMessage={"Data": RAW}, ConfigurationSetName="nope")
    assert code(v1) == "ConfigurationSetDoesNotExist"
    assert sent_mail(ACCOUNT, REGION) == []


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("app", "two words", "Invalid tag value <two words>"),
        ("app", "a:b", "Invalid tag value <a:b>"),
        ("app", "é", "Invalid tag value <é>"),
        ("app", "x" * 256, "Tag value cannot exceed 255 characters."),
        ("app", "", "The tag value must be specified."),
        ("my.tag", "v", "Invalid tag name <my.tag>"),
        ("n" * 256, "v", "Tag name cannot exceed 255 characters."),
    ],
)
def test_tags_ses_refuses_are_refused(clients: dict[str, Any], name: str, value: str, problem: str) -> None:
    with pytest.raises(ClientError) as v2:
        send_v2(clients["sesv2"], EmailTags=[{"Name": name, "Value": value}])
    assert code(v2) == "BadRequestException"
    assert problem in str(v2.value)
    with pytest.raises(ClientError) as v1:
        clients["ses"].send_raw_email(RawMessage={"Data": RAW}, Tags=[{"Name": name, "Value": value}])
    assert code(v1) == "InvalidParameterValue"
    assert sent_mail(ACCOUNT, REGION) == []


def test_the_tags_ses_accepts() -> None:
    for name, value in (
        ("mailflow-cid", "x" * 255),
        ("ses:feedback-id-a", "campaign_1"),
        ("A_b-9", "user.name@example.com"),
    ):
        assert tag_problem(name, value) is None, (name, value)


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_a_failed_sqs_delivery_does_not_fail_publish_or_the_other_subscriptions(
    clients: dict[str, Any],
) -> None:
    sns, sqs = clients["sns"], clients["sqs"]
    topic = sns.create_topic(Name="mailflow-dev-ses-events")["TopicArn"]
    gone_url, gone_arn = queue(sqs, "gone")
    kept_url, kept_arn = queue(sqs, "kept")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=gone_arn)
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=kept_arn, Attributes={"RawMessageDelivery": "true"}
    )
    sqs.delete_queue(QueueUrl=gone_url)
    assert sns.publish(TopicArn=topic, Message='{"eventType":"Send"}')["MessageId"]
    (received,) = sqs.receive_message(QueueUrl=kept_url)["Messages"]
    assert received["Body"] == '{"eventType":"Send"}'
