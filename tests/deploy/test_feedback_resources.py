"""The SES feedback path of a stack (issue 11.1, contract E): configuration set and event destination,
events topic, events queue and its DLQ, the events mapping. Reconciled, planned, diffed and destroyed like
every other resource: drift is repaired with the one call that fixes it, and a re-deploy writes nothing."""

from __future__ import annotations

import pytest
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.errors import MailflowError
from mailflow_cli.naming import is_owned

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CONFIGURATION_SET = "mailflow-dev"
CONFIGURATION_SET_ARN = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{CONFIGURATION_SET}"
EVENTS_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:mailflow-dev-ses-events"
EVENTS_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-ses-events"
FEEDBACK = ["BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY", "REJECT", "RENDERING_FAILURE"]


def destinations() -> list[dict[str, object]]:
    found = aws_client("sesv2").get_configuration_set_event_destinations(
        ConfigurationSetName=CONFIGURATION_SET
    )
    return list(found["EventDestinations"])


def queue_subscription() -> dict[str, str]:
    sns = aws_client("sns")
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=EVENTS_TOPIC)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("sqs", EVENTS_QUEUE)
    attributes: dict[str, str] = sns.get_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"]
    )["Attributes"]
    return attributes


def test_the_configuration_set_publishes_the_feedback_events_to_the_events_queue(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    outputs = deploy_stack(ctx)
    found = aws_client("sesv2").get_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    assert found["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    assert is_owned({t["Key"]: t["Value"] for t in found["Tags"]}, "dev")
    [destination] = destinations()
    assert destination["Name"] == "mailflow-events"
    assert destination["Enabled"] is True
    assert sorted(destination["MatchingEventTypes"]) == FEEDBACK  # no SEND unless sendEvents
    assert destination["SnsDestination"] == {"TopicArn": EVENTS_TOPIC}
    # raw delivery: the queue holds SES's event JSON itself (the handler reads both forms)
    assert queue_subscription()["RawMessageDelivery"] == "true"
    redrive = aws_client("sqs").get_queue_attributes(
        QueueUrl=outputs.events_queue_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
    )["Attributes"]
    assert '"deadLetterTargetArn": "' + EVENTS_QUEUE + '-dlq"' in redrive["RedrivePolicy"]
    assert redrive["VisibilityTimeout"] == "360"  # six times the function's timeout: Lambda consumes it
    assert outputs.to_json()["configurationSet"] == CONFIGURATION_SET
    assert outputs.to_json()["deadLetterQueueUrls"]["events"].endswith("/mailflow-dev-ses-events-dlq")


def test_send_events_changes_only_the_event_destination_and_the_handlers_switch(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """SES publishes Send events only when asked, and the handler forwards them only when its runtime
    config says so (a second gate): the destination and the handler's code change, nothing else."""
    ctx, _ = open_recorded(write_config())
    deploy_stack(ctx)
    changed, recorder = open_recorded(write_config(outbound={"feedback": {"sendEvents": True}}))
    plan = plan_stack(changed)
    assert sorted((c.kind, c.name, [d.attribute for d in c.diffs]) for c in plan.pending) == [
        ("lambda-function", "mailflow-dev-handler", ["codeSha256"]),
        ("ses-event-destination", "mailflow-dev/mailflow-events", ["matchingEventTypes"]),
    ]
    deploy_stack(changed)
    assert sorted(recorder.mutating) == [
        ("lambda", "UpdateFunctionCode"),
        ("sesv2", "UpdateConfigurationSetEventDestination"),
    ]
    assert sorted(destinations()[0]["MatchingEventTypes"]) == sorted([*FEEDBACK, "SEND"])  # type: ignore[call-overload]


def test_drift_is_repaired_by_the_call_that_fixes_it(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config()
    ctx, _ = open_recorded(path)
    deploy_stack(ctx)
    sesv2, sns = aws_client("sesv2"), aws_client("sns")
    sesv2.put_configuration_set_suppression_options(
        ConfigurationSetName=CONFIGURATION_SET, SuppressedReasons=[]
    )
    sesv2.tag_resource(ResourceArn=CONFIGURATION_SET_ARN, Tags=[{"Key": "extra", "Value": "x"}])
    sesv2.update_configuration_set_event_destination(
        ConfigurationSetName=CONFIGURATION_SET,
        EventDestinationName="mailflow-events",
        EventDestination={
            "Enabled": False,
            "MatchingEventTypes": ["BOUNCE"],
            "SnsDestination": {"TopicArn": EVENTS_TOPIC},
        },
    )
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=EVENTS_TOPIC)["Subscriptions"]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    sns.set_topic_attributes(
        TopicArn=EVENTS_TOPIC, AttributeName="Policy", AttributeValue='{"Statement": []}'
    )
    again, recorder = open_recorded(path)
    plan = plan_stack(again)
    assert {(c.kind, tuple(d.attribute for d in c.diffs)) for c in plan.pending} == {
        ("ses-configuration-set", ("suppressedReasons", "tags")),
        ("ses-event-destination", ("enabled", "matchingEventTypes")),
        ("sns-topic", ("policy", "queueSubscriptions")),
    }
    deploy_stack(again)
    assert sorted(recorder.mutating) == [
        ("sesv2", "PutConfigurationSetSuppressionOptions"),
        ("sesv2", "UntagResource"),
        ("sesv2", "UpdateConfigurationSetEventDestination"),
        ("sns", "SetSubscriptionAttributes"),
        ("sns", "SetTopicAttributes"),
    ]
    assert queue_subscription()["RawMessageDelivery"] == "true"
    assert not plan_stack(again).has_changes


def test_a_lost_subscription_is_subscribed_again_and_a_foreign_one_removed(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """Only the events queue reads the events topic: SES's events about the stack's mail go nowhere else."""
    path = write_config()
    ctx, _ = open_recorded(path)
    deploy_stack(ctx)
    sns, sqs = aws_client("sns"), aws_client("sqs")
    [ours] = sns.list_subscriptions_by_topic(TopicArn=EVENTS_TOPIC)["Subscriptions"]
    sns.unsubscribe(SubscriptionArn=ours["SubscriptionArn"])
    sqs.create_queue(QueueName="eavesdropper")
    sns.subscribe(
        TopicArn=EVENTS_TOPIC, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:eavesdropper"
    )
    again, _ = open_recorded(path)
    deploy_stack(again)
    assert queue_subscription()["RawMessageDelivery"] == "true"  # exactly one: the events queue's
    assert not plan_stack(again).has_changes


def test_a_foreign_configuration_set_of_that_name_stops_deploy_and_survives_destroy(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    aws_client("sesv2").create_configuration_set(
        ConfigurationSetName=CONFIGURATION_SET, Tags=[{"Key": "owner", "Value": "someone-else"}]
    )
    ctx, recorder = open_recorded(write_config())
    with pytest.raises(MailflowError, match="ses-configuration-set mailflow-dev: exists but does not carry"):
        deploy_stack(ctx)
    assert recorder.mutating == []
    report = destroy_stack(ctx)
    assert ("ses-configuration-set", CONFIGURATION_SET) in {(c.kind, c.name) for c in report.left_alone}
    assert aws_client("sesv2").get_configuration_set(ConfigurationSetName=CONFIGURATION_SET)["Tags"] == [
        {"Key": "owner", "Value": "someone-else"}
    ]


def test_the_events_mapping_waits_for_the_role(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """On an upgrade the role's policy gains the events queue in the same deploy, and Lambda checks that
    the role may read a queue when its mapping is created: the mapping is created after the role's
    update, not beside it."""
    ctx, _ = open_recorded(write_config())
    [mapping] = [
        c for c in plan_stack(ctx).pending if c.name == "mailflow-dev-ses-events->mailflow-dev-handler"
    ]
    assert "iam-role:mailflow-dev-handler" in mapping.depends_on
