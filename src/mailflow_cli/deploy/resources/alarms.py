"""CloudWatch alarms: the fewest alarm metrics that still tell an operator what needs them.

CloudWatch bills an alarm per metric it reads (0.10 USD a month each; one over a metric math expression
pays for every metric in it), so the set is chosen by what each metric adds:

- handler errors (Lambda's ``Errors``);
- mail or events in any dead-letter queue: one alarm over the four DLQs' depths (what failed, and where,
  is ``mailflow dlq list``);
- the account's SES bounce and complaint rates at the configured alarm thresholds (the warning
  thresholds are ``mailflow status``'s);
- handler throttles, only when ``lambda.reservedConcurrency`` caps the function (otherwise Lambda retries
  throttled work, and what it gives up on lands in a DLQ, which the alarm above watches);
- per app, its oldest unread message, only with ``alarms.appQueueAge`` (``mailflow status`` checks the
  same age for free).
"""

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
REPUTATION_PERIOD_SECONDS = 3600
SES_NAMESPACE = "AWS/SES"
BOUNCE_RATE = "Reputation.BounceRate"
COMPLAINT_RATE = "Reputation.ComplaintRate"
DEAD_LETTERS_EXPRESSION_ID = "deadletters"


@dataclass(frozen=True)
class MetricQuery:
    """One metric an alarm over a math expression reads; ``id`` names it in the expression."""

    id: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int

    def attributes(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "namespace": self.namespace,
            "metric": self.metric,
            "dimensions": [list(pair) for pair in sorted(self.dimensions)],
            "statistic": self.statistic,
            "period": self.period,
        }

    def request(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
                },
                "Period": self.period,
                "Stat": self.statistic,
            },
            "ReturnData": False,
        }


@dataclass(frozen=True)
class AlarmSpec(Resource):
    """An alarm on one metric, or (with ``queries``) on the math ``expression`` over several."""

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
    queries: tuple[MetricQuery, ...] = ()
    expression: str = ""

    @property
    def metric_count(self) -> int:
        """The alarm metrics CloudWatch bills for this alarm."""
        return len(self.queries) or 1

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def attributes(self) -> dict[str, Any]:
        single = not self.queries
        return {
            "description": self.description,
            "namespace": self.namespace if single else None,
            "metric": self.metric if single else None,
            "dimensions": [list(pair) for pair in sorted(self.dimensions)],
            "statistic": self.statistic if single else None,
            "period": self.period if single else None,
            "metrics": metric_attributes(self.queries, self.expression),
            "evaluationPeriods": self.evaluation_periods,
            "threshold": float(self.threshold),
            "comparison": self.comparison,
            "treatMissingData": self.treat_missing_data,
            "alarmActions": sorted(self.actions),
            "okActions": sorted(self.actions),
            "tags": comparable_tags(self.tags),
        }

    def metric_requests(self) -> list[dict[str, Any]]:
        """``Metrics`` of PutMetricAlarm: every query, then the expression the alarm watches."""
        expression = {"Id": DEAD_LETTERS_EXPRESSION_ID, "Expression": self.expression, "ReturnData": True}
        return [*(query.request() for query in self.queries), expression]


def metric_attributes(queries: tuple[MetricQuery, ...], expression: str) -> list[dict[str, Any]]:
    """A math alarm's metrics as compared (empty for an alarm on one metric)."""
    if not queries:
        return []
    return [
        *sorted((query.attributes() for query in queries), key=lambda item: str(item["id"])),
        {"id": DEAD_LETTERS_EXPRESSION_ID, "expression": expression},
    ]


def alarms(config: MailflowConfig, names: StackNames, topic: TopicSpec | None) -> tuple[AlarmSpec, ...]:
    if not config.alarms.enabled:
        return ()
    actions = (topic.arn,) if topic else ()
    topic_keys = (topic.key,) if topic else ()
    tags = tags_for(config, "alarms")
    common: dict[str, Any] = {"actions": actions, "tags": tags}
    function_key = f"{FunctionSpec.kind}:{names.function}"
    function_dimension = (("FunctionName", names.function),)
    reputation = config.alarms.reputation
    result = [
        AlarmSpec(
            name=names.alarm("handler-errors"),
            description=f"The Mailflow handler {names.function} reported errors.",
            namespace="AWS/Lambda",
            metric="Errors",
            dimensions=function_dimension,
            threshold=float(config.alarms.error_threshold - 1),
            dependencies=(function_key, *topic_keys),
            **common,
        ),
        dead_letters(names, topic_keys, common),
        reputation_alarm(
            names.alarm("ses-bounce-rate"), BOUNCE_RATE, reputation.bounce_alarm, topic_keys, common
        ),
        reputation_alarm(
            names.alarm("ses-complaint-rate"), COMPLAINT_RATE, reputation.complaint_alarm, topic_keys, common
        ),
    ]
    if config.lambda_.reserved_concurrency is not None:
        result.append(
            AlarmSpec(
                name=names.alarm("handler-throttles"),
                description=f"The Mailflow handler {names.function} was throttled "
                f"(lambda.reservedConcurrency is {config.lambda_.reserved_concurrency}).",
                namespace="AWS/Lambda",
                metric="Throttles",
                dimensions=function_dimension,
                dependencies=(function_key, *topic_keys),
                **common,
            )
        )
    if config.alarms.app_queue_age:
        result.extend(app_queue_age(config, names, topic_keys, common))
    return tuple(result)


def dead_letters(names: StackNames, topic_keys: tuple[str, ...], common: dict[str, Any]) -> AlarmSpec:
    queries = tuple(
        MetricQuery(
            id=dlq.removeprefix(names.name_prefix).removesuffix("-dlq").replace("-", "_"),
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions=(("QueueName", dlq),),
            statistic="Maximum",
            period=DLQ_PERIOD_SECONDS,
        )
        for dlq in names.dead_letter_queues
    )
    return AlarmSpec(
        name=names.alarm("dead-letters"),
        description=f"Messages are waiting in a dead-letter queue of {names.prefix} "
        f"({', '.join(names.dead_letter_queues)}): see `mailflow dlq list`.",
        queries=queries,
        expression=f"MAX([{', '.join(query.id for query in queries)}])",
        threshold=0.0,
        dependencies=(*(f"{QueueSpec.kind}:{dlq}" for dlq in names.dead_letter_queues), *topic_keys),
        **common,
    )


def reputation_alarm(
    name: str, metric: str, percent: float, topic_keys: tuple[str, ...], common: dict[str, Any]
) -> AlarmSpec:
    """SES publishes the account's rates as fractions (0.05 is 5 %), only once it has sent enough mail;
    until then there is no data, which is not a breach."""
    what, review, pause = ("bounce", 5, 10) if metric == BOUNCE_RATE else ("complaint", 0.1, 0.5)
    return AlarmSpec(
        name=name,
        description=f"The SES account's {what} rate is at or above {percent:g} % (SES reviews an account "
        f"from {review:g} % and may pause its sending from {pause:g} %): see `mailflow status`.",
        namespace=SES_NAMESPACE,
        metric=metric,
        statistic="Maximum",
        period=REPUTATION_PERIOD_SECONDS,
        threshold=round(percent / 100, 10),
        comparison="GreaterThanOrEqualToThreshold",
        dependencies=topic_keys,
        **common,
    )


def app_queue_age(
    config: MailflowConfig, names: StackNames, topic_keys: tuple[str, ...], common: dict[str, Any]
) -> list[AlarmSpec]:
    result = []
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
                dependencies=(f"{QueueSpec.kind}:{queue}", *topic_keys),
                **common,
            )
        )
    return result
