"""CloudWatch Logs: the function's log group and its retention."""

from __future__ import annotations

from mailflow_cli.access import Access, Scopes, allow
from mailflow_cli.deploy.handlers.base import ResourceHandler, tag_delta
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.log_group import LogGroupSpec


class LogGroupHandler(ResourceHandler[LogGroupSpec]):
    resource_type = LogGroupSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        group = scopes.log_group
        return Access(
            read=(allow(scopes.any, "logs:DescribeLogGroups"), allow(group, "logs:ListTagsForResource")),
            write=(
                allow(
                    group,
                    "logs:CreateLogGroup",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteLogGroup",
                ),
            ),
        )

    def discover(self, resource: LogGroupSpec) -> Observed | None:
        logs = self.client("logs")
        groups = logs.describe_log_groups(logGroupNamePrefix=resource.name).get("logGroups", [])
        group = next((g for g in groups if g["logGroupName"] == resource.name), None)
        if group is None:
            return None
        tags = logs.list_tags_for_resource(resourceArn=resource.arn).get("tags", {})
        return Observed(
            {"retentionInDays": group.get("retentionInDays"), "tags": comparable_tags(tags)},
            owned=self.owns(tags),
        )

    def create(self, resource: LogGroupSpec, step: StepReporter) -> None:
        logs = self.client("logs")
        logs.create_log_group(logGroupName=resource.name, tags=dict(resource.tags))
        logs.put_retention_policy(logGroupName=resource.name, retentionInDays=resource.retention_days)

    def update(
        self, resource: LogGroupSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        logs = self.client("logs")
        if "retentionInDays" in changed:
            logs.put_retention_policy(logGroupName=resource.name, retentionInDays=resource.retention_days)
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                logs.tag_resource(resourceArn=resource.arn, tags=to_set)
            if to_remove:
                logs.untag_resource(resourceArn=resource.arn, tagKeys=to_remove)

    def delete(self, resource: LogGroupSpec, observed: Observed, step: StepReporter) -> None:
        self.client("logs").delete_log_group(logGroupName=resource.name)
