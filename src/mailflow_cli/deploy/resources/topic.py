"""SNS topics: the one alarms notify (an e-mail subscription; only when alarms.email is set), and the one
SES publishes the feedback events of sent mail to (a policy, and the events queue subscribed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.policy import normalise_policy
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.naming import StackNames


@dataclass(frozen=True)
class QueueSubscription:
    """An SQS queue subscribed to a topic. With raw delivery the queue gets the published message
    itself, not SNS's JSON envelope around it."""

    queue_arn: str
    raw_delivery: bool = True

    def attributes(self) -> dict[str, Any]:
        return {"endpoint": self.queue_arn, "rawMessageDelivery": self.raw_delivery}


@dataclass(frozen=True)
class TopicSpec(Resource):
    kind: ClassVar[str] = "sns-topic"
    arn: str
    email: str | None
    tags: Mapping[str, str]
    policy: Mapping[str, Any] | None = None
    """``None``: not managed (SNS's default policy stays)."""
    queue_subscription: QueueSubscription | None = None
    """Managed only on a topic that has one (the alarm topic's SQS subscriptions are not Mailflow's)."""
    dependencies: tuple[str, ...] = field(default=())

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "emailSubscriptions": [self.email] if self.email else [],
            "tags": comparable_tags(self.tags),
        }
        if self.policy is not None:
            attributes["policy"] = normalise_policy(dict(self.policy))
        if self.queue_subscription is not None:
            attributes["queueSubscriptions"] = [self.queue_subscription.attributes()]
        return attributes


def topic(config: MailflowConfig, names: StackNames) -> TopicSpec | None:
    if not (config.alarms.enabled and config.alarms.email):
        return None
    return TopicSpec(
        name=names.topic, arn=names.topic_arn, email=config.alarms.email, tags=tags_for(config, "alarms")
    )


def stray_topic(names: StackNames) -> TopicSpec:
    return TopicSpec(name=names.topic, arn=names.topic_arn, email=None, tags={})


def events_topic_policy(names: StackNames) -> dict[str, Any]:
    """TLS only; SES may publish the configuration set's events (``aws:SourceAccount`` and
    ``aws:SourceArn``), and nothing else may publish: a forged event would reach an app as SES's word."""
    arn = names.events_topic_arn
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AllowSesToPublishEvents",
                "Effect": "Allow",
                "Principal": {"Service": "ses.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                    "ArnEquals": {"aws:SourceArn": names.configuration_set_arn},
                },
            },
            {
                "Sid": "OnlyTheConfigurationSetPublishes",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": arn,
                "Condition": {"ArnNotEquals": {"aws:SourceArn": names.configuration_set_arn}},
            },
        ],
    }


def events_topic(config: MailflowConfig, names: StackNames, events_queue: QueueSpec) -> TopicSpec:
    """Raw message delivery: the events queue holds SES's event JSON itself. What authenticates it is
    the queue policy (only this topic may send), not SNS's envelope, whose signature nobody checks."""
    return TopicSpec(
        name=names.events_topic,
        arn=names.events_topic_arn,
        email=None,
        tags=tags_for(config, "ses-events"),
        policy=events_topic_policy(names),
        queue_subscription=QueueSubscription(names.queue_arn(events_queue.name)),
        dependencies=(events_queue.key,),
    )
