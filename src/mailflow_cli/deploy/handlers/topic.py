"""SNS: the alarm topic and its e-mail subscription."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow
from mailflow_cli.deploy.handlers.base import (
    ResourceHandler,
    both,
    missing,
    paginate,
    tag_delta,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.topic import TopicSpec, stray_topic

PENDING = "PendingConfirmation"


class TopicHandler(ResourceHandler[TopicSpec]):
    resource_type = TopicSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """Unsubscribe acts on a subscription and has no resource-level permissions."""
        topic = scopes.alarm_topic
        return Access(
            read=(
                allow(
                    topic, "sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"
                ),
            ),
            write=(
                allow(
                    topic,
                    "sns:CreateTopic",
                    "sns:TagResource",
                    "sns:UntagResource",
                    "sns:Subscribe",
                    "sns:DeleteTopic",
                ),
                allow(scopes.any, "sns:Unsubscribe"),
            ),
        )

    def discover(self, resource: TopicSpec) -> Observed | None:
        sns = self.client("sns")
        try:
            sns.get_topic_attributes(TopicArn=resource.arn)
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
        return Observed(
            {"emailSubscriptions": compared, "tags": comparable_tags(tags)},
            owned=self.owns(tags),
            handle={"subscriptions": subscriptions},
        )

    def strays(self, desired: Sequence[TopicSpec]) -> Sequence[TopicSpec]:
        return () if desired else (stray_topic(self.names),)

    def create(self, resource: TopicSpec, step: StepReporter) -> None:
        sns = self.client("sns")
        sns.create_topic(Name=resource.name, Tags=tag_list(resource.tags))
        if resource.email:
            sns.subscribe(TopicArn=resource.arn, Protocol="email", Endpoint=resource.email)

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
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                sns.tag_resource(ResourceArn=resource.arn, Tags=tag_list(to_set))
            if to_remove:
                sns.untag_resource(ResourceArn=resource.arn, TagKeys=to_remove)

    def delete(self, resource: TopicSpec, observed: Observed, step: StepReporter) -> None:
        self.client("sns").delete_topic(TopicArn=resource.arn)
