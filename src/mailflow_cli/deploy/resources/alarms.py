"""CloudWatch alarms: handler errors and throttles, any DLQ not empty, an app not reading its queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.deploy.resources.function import FunctionSpec
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.deploy.resources.topic import TopicSpec
from mailflow_cli.naming import StackNames

PERIOD_SECONDS = 300
DLQ_PERIOD_SECONDS = 60


@dataclass(frozen=True)
class AlarmSpec(Resource):
    kind: ClassVar[str] = "cloudwatch-alarm"
    description: str = ""
    namespace: str = ""
    metric: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str = "Sum"
    period: int = PERIOD_SECONDS
    evaluation_periods: int = 1
    threshold: float = 0.0
    comparison: str = "GreaterThanThreshold"
    treat_missing_data: str = "notBreaching"
    actions: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def attributes(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "namespace": self.namespace,
            "metric": self.metric,
            "dimensions": [list(pair) for pair in sorted(self.dimensions)],
            "statistic": self.statistic,
            "period": self.period,
            "evaluationPeriods": self.evaluation_periods,
            "threshold": float(self.threshold),
            "comparison": self.comparison,
            "treatMissingData": self.treat_missing_data,
            "alarmActions": sorted(self.actions),
            "okActions": sorted(self.actions),
            "tags": comparable_tags(self.tags),
        }


def alarms(config: MailflowConfig, names: StackNames, topic: TopicSpec | None) -> tuple[AlarmSpec, ...]:
    if not config.alarms.enabled:
        return ()
    actions = (topic.arn,) if topic else ()
    topic_keys = (topic.key,) if topic else ()
    tags = tags_for(config, "alarms")
    function_key = f"{FunctionSpec.kind}:{names.function}"
    function_dimension = (("FunctionName", names.function),)
    result = [
        AlarmSpec(
            name=names.alarm("handler-errors"),
            description=f"The Mailflow handler {names.function} reported errors.",
            namespace="AWS/Lambda",
            metric="Errors",
            dimensions=function_dimension,
            threshold=float(config.alarms.error_threshold - 1),
            actions=actions,
            tags=tags,
            dependencies=(function_key, *topic_keys),
        ),
        AlarmSpec(
            name=names.alarm("handler-throttles"),
            description=f"The Mailflow handler {names.function} was throttled.",
            namespace="AWS/Lambda",
            metric="Throttles",
            dimensions=function_dimension,
            actions=actions,
            tags=tags,
            dependencies=(function_key, *topic_keys),
        ),
    ]
    for dlq in names.dead_letter_queues:
        result.append(
            AlarmSpec(
                name=names.alarm(f"{dlq.removeprefix(names.name_prefix)}-not-empty"),
                description=f"Messages are waiting in the dead-letter queue {dlq}.",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions=(("QueueName", dlq),),
                statistic="Maximum",
                period=DLQ_PERIOD_SECONDS,
                actions=actions,
                tags=tags,
                dependencies=(f"{QueueSpec.kind}:{dlq}", *topic_keys),
            )
        )
    for app in config.app_names:
        queue = names.app_queue(app)
        result.append(
            AlarmSpec(
                name=names.alarm(f"app-{app}-oldest-message"),
                description=f"The app {app} has not read its queue {queue} for too long.",
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions=(("QueueName", queue),),
                statistic="Maximum",
                threshold=float(config.alarms.oldest_message_age_seconds),
                actions=actions,
                tags=tags,
                dependencies=(f"{QueueSpec.kind}:{queue}", *topic_keys),
            )
        )
    return tuple(result)
