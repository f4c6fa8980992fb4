"""The SNS topic alarms notify, with an e-mail subscription (only when alarms.email is set)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import StackNames


@dataclass(frozen=True)
class TopicSpec(Resource):
    kind: ClassVar[str] = "sns-topic"
    arn: str
    email: str | None
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {
            "emailSubscriptions": [self.email] if self.email else [],
            "tags": comparable_tags(self.tags),
        }


def topic(config: MailflowConfig, names: StackNames) -> TopicSpec | None:
    if not (config.alarms.enabled and config.alarms.email):
        return None
    return TopicSpec(
        name=names.topic, arn=names.topic_arn, email=config.alarms.email, tags=tags_for(config, "alarms")
    )


def stray_topic(names: StackNames) -> TopicSpec:
    return TopicSpec(name=names.topic, arn=names.topic_arn, email=None, tags={})
