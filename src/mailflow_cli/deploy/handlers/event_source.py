"""Lambda: the SQS event source mappings, found by function and queue (never by a stored id)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.deploy.handlers.base import ResourceHandler, missing
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.event_source import RESPONSE_TYPES, EventSourceSpec
from mailflow_cli.deploy.retry import function_not_ready, mapping_in_use


class EventSourceHandler(ResourceHandler[EventSourceSpec]):
    resource_type = EventSourceSpec

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
            when=function_not_ready,
            waiting=step.waiting,
            what="the function's role to allow reading the queue",
        )

    def update(
        self, resource: EventSourceSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.update_event_source_mapping(
                UUID=observed.handle["uuid"], FunctionName=resource.function_name, **self._settings(resource)
            ),
            when=mapping_in_use,
            waiting=step.waiting,
            what="the event source mapping to leave its in-use state",
        )

    def delete(self, resource: EventSourceSpec, observed: Observed, step: StepReporter) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.delete_event_source_mapping(UUID=observed.handle["uuid"]),
            when=mapping_in_use,
            waiting=step.waiting,
            what="the event source mapping to leave its in-use state",
        )
