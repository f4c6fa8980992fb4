"""SES v2: the configuration set (found by name, owned by its tags) and its event destination (found
through the set, owned with it)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow
from mailflow_cli.deploy.handlers.base import ResourceHandler, missing, tag_delta, tag_dict, tag_list
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.configuration_set import ConfigurationSetSpec, EventDestinationSpec

NOT_FOUND = "NotFoundException"


class ConfigurationSetHandler(ResourceHandler[ConfigurationSetSpec]):
    resource_type = ConfigurationSetSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """SES v1 defines CreateConfigurationSet without a resource type, SES v2 with the set's ARN; a
        grant on "*" holds under both."""
        configuration_set = scopes.configuration_set
        return Access(
            read=(allow(configuration_set, "ses:GetConfigurationSet"),),
            write=(
                allow(scopes.any, "ses:CreateConfigurationSet"),
                allow(
                    configuration_set,
                    "ses:PutConfigurationSetSuppressionOptions",
                    "ses:TagResource",
                    "ses:UntagResource",
                    "ses:DeleteConfigurationSet",
                ),
            ),
        )

    def discover(self, resource: ConfigurationSetSpec) -> Observed | None:
        try:
            found = self.client("sesv2").get_configuration_set(ConfigurationSetName=resource.name)
        except ClientError as exc:
            if missing(exc, NOT_FOUND):
                return None
            raise
        tags = tag_dict(found.get("Tags"))
        reasons = found.get("SuppressionOptions", {}).get("SuppressedReasons")
        return Observed(
            {
                # absent: the set has no suppression options of its own, and the account's apply
                "suppressedReasons": sorted(reasons) if reasons is not None else None,
                "tags": comparable_tags(tags),
            },
            owned=self.owns(tags),
        )

    def create(self, resource: ConfigurationSetSpec, step: StepReporter) -> None:
        self.client("sesv2").create_configuration_set(
            ConfigurationSetName=resource.name,
            SuppressionOptions={"SuppressedReasons": list(resource.suppressed_reasons)},
            Tags=tag_list(resource.tags),
        )

    def update(
        self, resource: ConfigurationSetSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        sesv2 = self.client("sesv2")
        if "suppressedReasons" in changed:
            sesv2.put_configuration_set_suppression_options(
                ConfigurationSetName=resource.name, SuppressedReasons=list(resource.suppressed_reasons)
            )
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                sesv2.tag_resource(ResourceArn=resource.arn, Tags=tag_list(to_set))
            if to_remove:
                sesv2.untag_resource(ResourceArn=resource.arn, TagKeys=to_remove)

    def delete(self, resource: ConfigurationSetSpec, observed: Observed, step: StepReporter) -> None:
        self.client("sesv2").delete_configuration_set(ConfigurationSetName=resource.name)


class EventDestinationHandler(ResourceHandler[EventDestinationSpec]):
    resource_type = EventDestinationSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        configuration_set = scopes.configuration_set
        return Access(
            read=(allow(configuration_set, "ses:GetConfigurationSetEventDestinations"),),
            write=(
                allow(
                    configuration_set,
                    "ses:CreateConfigurationSetEventDestination",
                    "ses:UpdateConfigurationSetEventDestination",
                    "ses:DeleteConfigurationSetEventDestination",
                ),
            ),
        )

    def discover(self, resource: EventDestinationSpec) -> Observed | None:
        try:
            destinations = self.client("sesv2").get_configuration_set_event_destinations(
                ConfigurationSetName=resource.configuration_set
            )["EventDestinations"]
        except ClientError as exc:
            if missing(exc, NOT_FOUND):  # no configuration set yet
                return None
            raise
        found = next((d for d in destinations if d.get("Name") == resource.destination), None)
        if found is None:
            return None
        return Observed(
            {
                "enabled": bool(found.get("Enabled", False)),
                "matchingEventTypes": sorted(found.get("MatchingEventTypes", [])),
                "snsTopicArn": found.get("SnsDestination", {}).get("TopicArn"),
            }
        )

    def create(self, resource: EventDestinationSpec, step: StepReporter) -> None:
        self.client("sesv2").create_configuration_set_event_destination(
            ConfigurationSetName=resource.configuration_set,
            EventDestinationName=resource.destination,
            EventDestination=resource.request(),
        )

    def update(
        self, resource: EventDestinationSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        self.client("sesv2").update_configuration_set_event_destination(
            ConfigurationSetName=resource.configuration_set,
            EventDestinationName=resource.destination,
            EventDestination=resource.request(),
        )

    def delete(self, resource: EventDestinationSpec, observed: Observed, step: StepReporter) -> None:
        try:
            self.client("sesv2").delete_configuration_set_event_destination(
                ConfigurationSetName=resource.configuration_set, EventDestinationName=resource.destination
            )
        except ClientError as exc:
            if not missing(exc, NOT_FOUND):  # gone with its configuration set already
                raise
