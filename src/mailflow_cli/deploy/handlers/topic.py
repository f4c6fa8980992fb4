"""SNS: the alarm topic with its e-mail subscription, and the SES events topic with its policy and the
events queue's subscription."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow
from mailflow_cli.deploy.handlers.base import (
    ResourceHandler,
    both,
    fan_out,
    missing,
    paginate,
    tag_delta,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.policy import normalise_policy, policy_json
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.topic import QueueSubscription, TopicSpec, stray_topic

PENDING = "PendingConfirmation"
RAW_DELIVERY = "RawMessageDelivery"


class TopicHandler(ResourceHandler[TopicSpec]):
    resource_type = TopicSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """A subscription's attributes and its removal act on the subscription and have no
        resource-level permissions."""
        topics = scopes.topics
        return Access(
            read=(
                allow(
                    topics,
                    "sns:GetTopicAttributes",
                    "sns:ListTagsForResource",
                    "sns:ListSubscriptionsByTopic",
                ),
                allow(scopes.any, "sns:GetSubscriptionAttributes"),
            ),
            write=(
                allow(
                    topics,
                    "sns:CreateTopic",
                    "sns:SetTopicAttributes",
                    "sns:TagResource",
                    "sns:UntagResource",
                    "sns:Subscribe",
                    "sns:DeleteTopic",
                ),
                allow(scopes.any, "sns:Unsubscribe", "sns:SetSubscriptionAttributes"),
            ),
        )

    def discover(self, resource: TopicSpec) -> Observed | None:
        sns = self.client("sns")
        try:
            topic = sns.get_topic_attributes(TopicArn=resource.arn).get("Attributes", {})
        except ClientError as exc:
            if missing(exc, "NotFound", "NotFoundException"):
                return None
            raise
        tag_items, listed = both(
            lambda: sns.list_tags_for_resource(ResourceArn=resource.arn).get("Tags"),
            lambda: paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=resource.arn),
        )
        tags = tag_dict(tag_items)
        subscriptions = {
            sub["Endpoint"]: sub["SubscriptionArn"] for sub in listed if sub.get("Protocol") == "email"
        }
        # A pending subscription cannot be unsubscribed (SNS drops it after 3 days unconfirmed), so an old
        # pending address is not drift; the configured address, pending, needs no new Subscribe either.
        compared = sorted(
            endpoint
            for endpoint, arn in subscriptions.items()
            if arn != PENDING or endpoint == resource.email
        )
        queues = {sub["Endpoint"]: sub["SubscriptionArn"] for sub in listed if sub.get("Protocol") == "sqs"}
        return Observed(
            {
                "emailSubscriptions": compared,
                "tags": comparable_tags(tags),
                "policy": normalise_policy(topic.get("Policy") or None),
                "queueSubscriptions": self._queue_subscriptions(queues),
            },
            owned=self.owns(tags),
            handle={"subscriptions": subscriptions, "queueSubscriptions": queues},
        )

    def _queue_subscriptions(self, queues: Mapping[str, str]) -> list[dict[str, Any]]:
        """Each SQS subscription as :meth:`QueueSubscription.attributes` states it (one read each)."""
        sns = self.client("sns")

        def raw(arn: str) -> bool:
            if arn == PENDING:  # no attributes to read until it is confirmed
                return False
            attributes = sns.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
            return str(attributes.get(RAW_DELIVERY, "false")).lower() == "true"

        endpoints = sorted(queues)
        flags = fan_out(lambda endpoint: raw(queues[endpoint]), endpoints)
        return [
            QueueSubscription(endpoint, flag).attributes()
            for endpoint, flag in zip(endpoints, flags, strict=True)
        ]

    def strays(self, desired: Sequence[TopicSpec]) -> Sequence[TopicSpec]:
        alarm_topic = self.names.topic
        return () if any(topic.name == alarm_topic for topic in desired) else (stray_topic(self.names),)

    def create(self, resource: TopicSpec, step: StepReporter) -> None:
        sns = self.client("sns")
        attributes = {"Policy": policy_json(dict(resource.policy))} if resource.policy is not None else {}
        sns.create_topic(Name=resource.name, Tags=tag_list(resource.tags), Attributes=attributes)
        if resource.email:
            sns.subscribe(TopicArn=resource.arn, Protocol="email", Endpoint=resource.email)
        if resource.queue_subscription is not None:
            self._subscribe(resource, resource.queue_subscription)

    def _subscribe(self, resource: TopicSpec, subscription: QueueSubscription) -> None:
        self.client("sns").subscribe(
            TopicArn=resource.arn,
            Protocol="sqs",
            Endpoint=subscription.queue_arn,
            Attributes={RAW_DELIVERY: str(subscription.raw_delivery).lower()},
            ReturnSubscriptionArn=True,
        )

    def update(
        self, resource: TopicSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        sns = self.client("sns")
        if "emailSubscriptions" in changed:
            current: dict[str, str] = dict(observed.handle.get("subscriptions", {}))
            if resource.email and resource.email not in current:
                sns.subscribe(TopicArn=resource.arn, Protocol="email", Endpoint=resource.email)
            for endpoint, arn in current.items():
                if endpoint != resource.email and arn != PENDING:
                    sns.unsubscribe(SubscriptionArn=arn)
        if "policy" in changed and resource.policy is not None:
            sns.set_topic_attributes(
                TopicArn=resource.arn,
                AttributeName="Policy",
                AttributeValue=policy_json(dict(resource.policy)),
            )
        if "queueSubscriptions" in changed and resource.queue_subscription is not None:
            self._update_queue_subscriptions(resource, resource.queue_subscription, observed)
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                sns.tag_resource(ResourceArn=resource.arn, Tags=tag_list(to_set))
            if to_remove:
                sns.untag_resource(ResourceArn=resource.arn, TagKeys=to_remove)

    def _update_queue_subscriptions(
        self, resource: TopicSpec, wanted: QueueSubscription, observed: Observed
    ) -> None:
        """Subscribe the queue if it is not; set its raw delivery if it differs; unsubscribe any other
        queue (nothing but the events queue reads this topic)."""
        sns = self.client("sns")
        current: dict[str, str] = dict(observed.handle.get("queueSubscriptions", {}))
        found = {item["endpoint"]: item for item in observed.attributes.get("queueSubscriptions", [])}
        arn = current.get(wanted.queue_arn)
        if arn is None:
            self._subscribe(resource, wanted)
        elif found.get(wanted.queue_arn) != wanted.attributes() and arn != PENDING:
            sns.set_subscription_attributes(
                SubscriptionArn=arn,
                AttributeName=RAW_DELIVERY,
                AttributeValue=str(wanted.raw_delivery).lower(),
            )
        for endpoint, other in current.items():
            if endpoint != wanted.queue_arn and other != PENDING:
                sns.unsubscribe(SubscriptionArn=other)

    def delete(self, resource: TopicSpec, observed: Observed, step: StepReporter) -> None:
        self.client("sns").delete_topic(TopicArn=resource.arn)
