"""Lambda: the SQS event source mappings, found by function and queue (never by a stored id)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow, condition
from mailflow_cli.deploy.handlers.base import ResourceHandler, missing
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.event_source import RESPONSE_TYPES, EventSourceSpec
from mailflow_cli.deploy.retry import (
    FUNCTION_BUSY,
    MAPPING_IN_USE,
    ROLE_NOT_ASSUMABLE,
    ROLE_PERMISSIONS_NOT_VISIBLE,
)


class EventSourceHandler(ResourceHandler[EventSourceSpec]):
    resource_type = EventSourceSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """Changes are limited to mappings of the handler (lambda:FunctionArn). Listing supports no
        condition key: a condition there would make the Allow never match."""
        for_the_handler = condition(
            "OnlyForTheHandler", "ArnLike", "lambda:FunctionArn", scopes.names.function_arn
        )
        return Access(
            read=(allow(scopes.any, "lambda:ListEventSourceMappings"),),
            write=(
                allow(scopes.any, "lambda:CreateEventSourceMapping", when=for_the_handler),
                allow(
                    scopes.event_source_mappings,
                    "lambda:UpdateEventSourceMapping",
                    "lambda:DeleteEventSourceMapping",
                    when=for_the_handler,
                ),
            ),
        )

    def discover(self, resource: EventSourceSpec) -> Observed | None:
        try:
            mappings = self.client("lambda").list_event_source_mappings(
                FunctionName=resource.function_name, EventSourceArn=resource.queue_arn
            )["EventSourceMappings"]
        except ClientError as exc:
            if missing(exc, "ResourceNotFoundException"):
                return None
            raise
        if not mappings:
            return None
        mapping = mappings[0]
        return Observed(
            {
                "batchSize": mapping.get("BatchSize"),
                "maximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
                "functionResponseTypes": sorted(mapping.get("FunctionResponseTypes", [])),
                "maximumConcurrency": mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
                "enabled": mapping.get("State") in {"Enabled", "Enabling", "Creating", "Updating"},
            },
            handle={"uuid": mapping["UUID"]},
        )

    def _settings(self, resource: EventSourceSpec) -> dict[str, Any]:
        return {
            "BatchSize": resource.batch_size,
            "MaximumBatchingWindowInSeconds": resource.batching_window_seconds,
            "FunctionResponseTypes": list(RESPONSE_TYPES),
            "ScalingConfig": {"MaximumConcurrency": resource.maximum_concurrency},
            "Enabled": True,
        }

    def create(self, resource: EventSourceSpec, step: StepReporter) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.create_event_source_mapping(
                EventSourceArn=resource.queue_arn,
                FunctionName=resource.function_name,
                **self._settings(resource),
            ),
            when=(ROLE_PERMISSIONS_NOT_VISIBLE, ROLE_NOT_ASSUMABLE, FUNCTION_BUSY),
            waiting=step.waiting,
        )

    def update(
        self, resource: EventSourceSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.update_event_source_mapping(
                UUID=observed.handle["uuid"], FunctionName=resource.function_name, **self._settings(resource)
            ),
            when=MAPPING_IN_USE,
            waiting=step.waiting,
        )

    def delete(self, resource: EventSourceSpec, observed: Observed, step: StepReporter) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.delete_event_source_mapping(UUID=observed.handle["uuid"]),
            when=MAPPING_IN_USE,
            waiting=step.waiting,
        )
