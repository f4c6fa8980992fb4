"""The function's log group, created by Mailflow (so the role needs no logs:CreateLogGroup)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import StackNames


@dataclass(frozen=True)
class LogGroupSpec(Resource):
    kind: ClassVar[str] = "log-group"
    arn: str
    retention_days: int
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {"retentionInDays": self.retention_days, "tags": comparable_tags(self.tags)}


def log_group(config: MailflowConfig, names: StackNames) -> LogGroupSpec:
    return LogGroupSpec(
        name=names.log_group,
        arn=names.log_group_arn,
        retention_days=config.lambda_.log_retention_days,
        tags=tags_for(config, "logs"),
    )
