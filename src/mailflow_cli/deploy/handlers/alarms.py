"""CloudWatch: metric alarms, found by name; alarms of removed apps are strays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mailflow_cli.access import Access, Scopes, allow
from mailflow_cli.deploy.handlers.base import (
    Discovery,
    ResourceHandler,
    fan_out,
    paginate,
    tag_delta,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.alarms import AlarmSpec, MetricQuery, metric_attributes
from mailflow_cli.deploy.resources.common import comparable_tags

DESCRIBE_ALARMS_PAGE = 100  # the most DescribeAlarms returns per page


class AlarmHandler(ResourceHandler[AlarmSpec]):
    """Discovery lists the stack's alarms once (``DescribeAlarms`` by name prefix, all pages), then reads
    the tags of the alarms that exist, concurrently; no per-alarm ``DescribeAlarms``."""

    resource_type = AlarmSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """Listing alarms by name prefix is authorised against no particular alarm."""
        alarms = scopes.alarms
        return Access(
            read=(
                allow(scopes.any, "cloudwatch:DescribeAlarms"),
                allow(alarms, "cloudwatch:ListTagsForResource"),
            ),
            write=(
                allow(
                    alarms,
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "cloudwatch:DeleteAlarms",
                ),
            ),
        )

    def _listed(self, prefix: str) -> dict[str, dict[str, Any]]:
        alarms = paginate(
            self.client("cloudwatch"),
            "describe_alarms",
            "MetricAlarms",
            AlarmNamePrefix=prefix,
            AlarmTypes=["MetricAlarm"],
            PaginationConfig={"PageSize": DESCRIBE_ALARMS_PAGE},
        )
        return {str(alarm["AlarmName"]): alarm for alarm in alarms}

    def _observe(self, alarm: Mapping[str, Any]) -> Observed:
        arn = alarm["AlarmArn"]
        tags = tag_dict(self.client("cloudwatch").list_tags_for_resource(ResourceARN=arn).get("Tags"))
        return Observed(
            {
                "description": alarm.get("AlarmDescription", ""),
                "namespace": alarm.get("Namespace"),
                "metric": alarm.get("MetricName"),
                "dimensions": sorted([d["Name"], d["Value"]] for d in alarm.get("Dimensions", [])),
                "statistic": alarm.get("Statistic"),
                "period": alarm.get("Period"),
                "metrics": observed_metrics(alarm.get("Metrics", [])),
                "evaluationPeriods": alarm.get("EvaluationPeriods"),
                "threshold": float(alarm.get("Threshold", 0.0)),
                "comparison": alarm.get("ComparisonOperator"),
                "treatMissingData": alarm.get("TreatMissingData", "missing"),
                "alarmActions": sorted(alarm.get("AlarmActions", [])),
                "okActions": sorted(alarm.get("OKActions", [])),
                "tags": comparable_tags(tags),
            },
            owned=self.owns(tags),
            handle={"arn": arn},
        )

    def discover(self, resource: AlarmSpec) -> Observed | None:
        found = self.client("cloudwatch").describe_alarms(
            AlarmNames=[resource.name], AlarmTypes=["MetricAlarm"]
        )
        alarm = next(iter(found.get("MetricAlarms", [])), None)
        return None if alarm is None else self._observe(alarm)

    def discover_all(self, desired: Sequence[AlarmSpec]) -> Discovery[AlarmSpec]:
        prefix = self.names.alarm("")
        listed = self._listed(prefix)
        wanted = {alarm.name for alarm in desired}
        strays = tuple(AlarmSpec(name=name) for name in listed if name not in wanted)
        resources = [*desired, *strays]

        def observe(alarm: AlarmSpec) -> Observed | None:
            if not alarm.name.startswith(prefix):  # not covered by the listing
                return self.discover(alarm)
            found = listed.get(alarm.name)
            return None if found is None else self._observe(found)

        observed = fan_out(observe, resources)
        return Discovery({a.key: o for a, o in zip(resources, observed, strict=True)}, strays)

    def _put(self, resource: AlarmSpec, *, with_tags: bool) -> None:
        watched: dict[str, Any] = (
            {"Metrics": resource.metric_requests()}
            if resource.queries
            else {
                "Namespace": resource.namespace,
                "MetricName": resource.metric,
                "Dimensions": [{"Name": name, "Value": value} for name, value in resource.dimensions],
                "Statistic": resource.statistic,
                "Period": resource.period,
            }
        )
        arguments: dict[str, Any] = {
            "AlarmName": resource.name,
            "AlarmDescription": resource.description,
            **watched,
            "EvaluationPeriods": resource.evaluation_periods,
            "Threshold": resource.threshold,
            "ComparisonOperator": resource.comparison,
            "TreatMissingData": resource.treat_missing_data,
            "AlarmActions": list(resource.actions),
            "OKActions": list(resource.actions),
            "ActionsEnabled": True,
        }
        if with_tags:
            arguments["Tags"] = tag_list(resource.tags)
        self.client("cloudwatch").put_metric_alarm(**arguments)

    def create(self, resource: AlarmSpec, step: StepReporter) -> None:
        self._put(resource, with_tags=True)

    def update(
        self, resource: AlarmSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        cloudwatch = self.client("cloudwatch")
        if changed - {"tags"}:
            self._put(resource, with_tags=False)
        if "tags" in changed:
            arn = observed.handle["arn"]
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                cloudwatch.tag_resource(ResourceARN=arn, Tags=tag_list(to_set))
            if to_remove:
                cloudwatch.untag_resource(ResourceARN=arn, TagKeys=to_remove)

    def delete(self, resource: AlarmSpec, observed: Observed, step: StepReporter) -> None:
        self.client("cloudwatch").delete_alarms(AlarmNames=[resource.name])


def observed_metrics(metrics: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A math alarm's ``Metrics`` in the form :func:`metric_attributes` gives them."""
    queries: list[MetricQuery] = []
    expression = ""
    for item in metrics:
        stat = item.get("MetricStat")
        if stat is None:
            expression = str(item.get("Expression", "")) if item.get("ReturnData", True) else expression
            continue
        metric = stat.get("Metric", {})
        queries.append(
            MetricQuery(
                id=str(item.get("Id")),
                namespace=str(metric.get("Namespace")),
                metric=str(metric.get("MetricName")),
                dimensions=tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])),
                statistic=str(stat.get("Stat")),
                period=int(stat.get("Period", 0)),
            )
        )
    return metric_attributes(tuple(queries), expression)
