"""SQS queues: one per app, default, outbound, and the three dead-letter queues."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import StackNames

LONG_POLL_SECONDS = 20
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
DLQ_VISIBILITY_SECONDS = 300
# AWS: the visibility timeout of a Lambda-consumed queue should be at least six times the function timeout.
OUTBOUND_VISIBILITY_FACTOR = 6
MANAGED_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
)


@dataclass(frozen=True)
class QueueSpec(Resource):
    kind: ClassVar[str] = "sqs-queue"
    settings: Mapping[str, str] = field(default_factory=dict)
    dead_letter_arn: str | None = None
    dead_letter_name: str | None = None
    max_receive_count: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)

    def depends_on(self) -> tuple[str, ...]:
        return (f"{self.kind}:{self.dead_letter_name}",) if self.dead_letter_name else ()

    def redrive_policy(self) -> dict[str, Any] | None:
        if self.dead_letter_arn is None:
            return None
        return {"deadLetterTargetArn": self.dead_letter_arn, "maxReceiveCount": self.max_receive_count}

    def attributes(self) -> dict[str, Any]:
        return {**self.settings, "RedrivePolicy": self.redrive_policy(), "tags": comparable_tags(self.tags)}


def _settings(config: MailflowConfig, visibility: int, retention: int) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(visibility),
        "MessageRetentionPeriod": str(retention),
        "MaximumMessageSize": str(config.queues.max_message_bytes),
        "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_SECONDS),
        "SqsManagedSseEnabled": "true",
    }


def outbound_visibility_seconds(config: MailflowConfig) -> int:
    return OUTBOUND_VISIBILITY_FACTOR * config.lambda_.timeout_seconds


def app_queue(config: MailflowConfig, names: StackNames, app: str) -> QueueSpec:
    retention = config.queues.message_retention_days * 24 * 3600
    return QueueSpec(
        name=names.app_queue(app),
        settings=_settings(config, config.queues.app_visibility_timeout_seconds, retention),
        dead_letter_arn=names.queue_arn(names.apps_dlq),
        dead_letter_name=names.apps_dlq,
        max_receive_count=config.queues.max_receive_count,
        tags={**tags_for(config, "app-queue"), "mailflow:app": app},
    )


def queues(config: MailflowConfig, names: StackNames) -> tuple[QueueSpec, ...]:
    retention = config.queues.message_retention_days * 24 * 3600
    dead_letter = tuple(
        QueueSpec(
            name=dlq,
            settings=_settings(config, DLQ_VISIBILITY_SECONDS, DLQ_RETENTION_SECONDS),
            tags=tags_for(config, "dead-letter-queue"),
        )
        for dlq in names.dead_letter_queues
    )
    default = QueueSpec(
        name=names.default_queue,
        settings=_settings(config, config.queues.app_visibility_timeout_seconds, retention),
        dead_letter_arn=names.queue_arn(names.apps_dlq),
        dead_letter_name=names.apps_dlq,
        max_receive_count=config.queues.max_receive_count,
        tags=tags_for(config, "default-queue"),
    )
    outbound = QueueSpec(
        name=names.outbound_queue,
        settings=_settings(config, outbound_visibility_seconds(config), retention),
        dead_letter_arn=names.queue_arn(names.outbound_dlq),
        dead_letter_name=names.outbound_dlq,
        max_receive_count=config.queues.outbound_max_receive_count,
        tags=tags_for(config, "outbound-queue"),
    )
    apps = tuple(app_queue(config, names, app) for app in config.app_names)
    return (*dead_letter, default, outbound, *apps)
