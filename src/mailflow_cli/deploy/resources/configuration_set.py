"""The SES configuration set every send of the handler names, and its event destination: SES publishes
what happens to sent mail (delivered, bounced, complained, ...) to the events topic (contract E)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.deploy.resources.topic import TopicSpec
from mailflow_cli.naming import StackNames

SUPPRESSED_REASONS = ("BOUNCE", "COMPLAINT")
"""SES keeps an address that bounced hard or complained on the account's suppression list and does not
send to it again: it publishes a Bounce event instead (``mailflow suppression``)."""
FEEDBACK_EVENTS = ("DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY", "RENDERING_FAILURE")
SEND_EVENT = "SEND"
DESTINATION_NAME = "mailflow-events"


@dataclass(frozen=True)
class ConfigurationSetSpec(Resource):
    kind: ClassVar[str] = "ses-configuration-set"
    arn: str
    suppressed_reasons: tuple[str, ...]
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {"suppressedReasons": sorted(self.suppressed_reasons), "tags": comparable_tags(self.tags)}


@dataclass(frozen=True)
class EventDestinationSpec(Resource):
    """Named ``<configuration set>/<destination>``; it cannot carry tags and follows the set's owner."""

    kind: ClassVar[str] = "ses-event-destination"
    configuration_set: str
    destination: str
    topic_arn: str
    event_types: tuple[str, ...]
    dependencies: tuple[str, ...]

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def owned_through(self) -> str:
        return f"{ConfigurationSetSpec.kind}:{self.configuration_set}"

    def attributes(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "matchingEventTypes": sorted(self.event_types),
            "snsTopicArn": self.topic_arn,
        }

    def request(self) -> dict[str, Any]:
        """The ``EventDestination`` of Create/UpdateConfigurationSetEventDestination."""
        return {
            "Enabled": True,
            "MatchingEventTypes": sorted(self.event_types),
            "SnsDestination": {"TopicArn": self.topic_arn},
        }


def configuration_set(config: MailflowConfig, names: StackNames) -> ConfigurationSetSpec:
    return ConfigurationSetSpec(
        name=names.configuration_set,
        arn=names.configuration_set_arn,
        suppressed_reasons=SUPPRESSED_REASONS,
        tags=tags_for(config, "configuration-set"),
    )


def event_types(config: MailflowConfig) -> tuple[str, ...]:
    """SES's Send event only says what outbound.status already did: published only when asked for."""
    return (*FEEDBACK_EVENTS, SEND_EVENT) if config.outbound.feedback.send_events else FEEDBACK_EVENTS


def event_destination(
    config: MailflowConfig, configuration_set: ConfigurationSetSpec, topic: TopicSpec
) -> EventDestinationSpec:
    return EventDestinationSpec(
        name=f"{configuration_set.name}/{DESTINATION_NAME}",
        configuration_set=configuration_set.name,
        destination=DESTINATION_NAME,
        topic_arn=topic.arn,
        event_types=event_types(config),
        dependencies=(configuration_set.key, topic.key),
    )
