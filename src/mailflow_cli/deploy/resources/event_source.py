"""The SQS event source mapping that feeds the outbound queue to the function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.resources.function import AttachedToFunction, FunctionSpec
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.naming import StackNames

RESPONSE_TYPES = ("ReportBatchItemFailures",)


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
