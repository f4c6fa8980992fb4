"""The SQS event source mappings that feed the outbound queue and the SES events queue to the function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.resources.function import AttachedToFunction, FunctionSpec
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.naming import StackNames

RESPONSE_TYPES = ("ReportBatchItemFailures",)
EVENTS_BATCH_SIZE = 10
EVENTS_BATCHING_WINDOW_SECONDS = 1
EVENTS_MAX_CONCURRENCY = 2
"""Feedback is not urgent: two batches at a time keep a burst of bounces from taking the concurrency that
inbound and outbound mail need (2 is the least Lambda allows)."""


@dataclass(frozen=True)
class EventSourceSpec(AttachedToFunction):
    kind: ClassVar[str] = "event-source-mapping"
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int

    def attributes(self) -> dict[str, Any]:
        return {
            "batchSize": self.batch_size,
            "maximumBatchingWindowInSeconds": self.batching_window_seconds,
            "functionResponseTypes": list(RESPONSE_TYPES),
            "maximumConcurrency": self.maximum_concurrency,
            "enabled": True,
        }


def event_source(
    config: MailflowConfig, names: StackNames, *, function: FunctionSpec, outbound: QueueSpec
) -> EventSourceSpec:
    return EventSourceSpec(
        name=f"{outbound.name}->{function.name}",
        function_name=function.name,
        queue_arn=names.queue_arn(outbound.name),
        batch_size=config.outbound.batch_size,
        batching_window_seconds=config.outbound.maximum_batching_window_seconds,
        maximum_concurrency=config.outbound.max_concurrency,
        dependencies=(function.key, outbound.key),
    )


def events_source(
    names: StackNames, *, function: FunctionSpec, events: QueueSpec, role_key: str
) -> EventSourceSpec:
    """After the role too: on an upgrade, the role's policy gains the events queue in the same deploy, and
    Lambda checks that the role may read the queue when the mapping is created."""
    return EventSourceSpec(
        name=f"{events.name}->{function.name}",
        function_name=function.name,
        queue_arn=names.queue_arn(events.name),
        batch_size=EVENTS_BATCH_SIZE,
        batching_window_seconds=EVENTS_BATCHING_WINDOW_SECONDS,
        maximum_concurrency=EVENTS_MAX_CONCURRENCY,
        dependencies=(function.key, events.key, role_key),
    )
