"""SQS queues: one per app, default, outbound, SES's feedback events, and the four dead-letter queues,
each with a resource policy (contract C3): TLS only everywhere; who may write a dead-letter queue, who may
read and write the queue of an app that names its principals, and that only the stack's events topic
writes the events queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailflow_cli.config import AppConfig, MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.policy import normalise_policy
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import StackNames

LONG_POLL_SECONDS = 20
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
DLQ_VISIBILITY_SECONDS = 300
# AWS: the visibility timeout of a Lambda-consumed queue should be at least six times the function timeout.
OUTBOUND_VISIBILITY_FACTOR = 6
EVENTS_MAX_RECEIVE_COUNT = 3
"""Attempts at one SES event before SQS moves it to the events DLQ (a malformed body fails every time)."""
MANAGED_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
)
CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
)


@dataclass(frozen=True)
class QueueSpec(Resource):
    kind: ClassVar[str] = "sqs-queue"
    settings: Mapping[str, str] = field(default_factory=dict)
    dead_letter_arn: str | None = None
    dead_letter_name: str | None = None
    max_receive_count: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    policy: Mapping[str, Any] | None = None

    def depends_on(self) -> tuple[str, ...]:
        return (f"{self.kind}:{self.dead_letter_name}",) if self.dead_letter_name else ()

    def redrive_policy(self) -> dict[str, Any] | None:
        if self.dead_letter_arn is None:
            return None
        return {"deadLetterTargetArn": self.dead_letter_arn, "maxReceiveCount": self.max_receive_count}

    def attributes(self) -> dict[str, Any]:
        return {
            **self.settings,
            "RedrivePolicy": self.redrive_policy(),
            "Policy": normalise_policy(dict(self.policy)) if self.policy is not None else None,
            "tags": comparable_tags(self.tags),
        }


def _deny_all_but(sid: str, actions: tuple[str, ...], queue_arn: str, principals: set[str]) -> dict[str, Any]:
    """Deny ``actions`` to every principal whose ARN (a role's, also when assumed) is not listed."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(actions) if len(actions) > 1 else actions[0],
        "Resource": queue_arn,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(principals)}},
    }


def queue_policy(queue_arn: str, *restrictions: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            *restrictions,
        ],
    }


def dead_letter_policy(names: StackNames, dlq: str) -> dict[str, Any]:
    """Only the handler role writes a dead-letter queue; SQS's own redrive is not a SendMessage."""
    arn = names.queue_arn(dlq)
    return queue_policy(
        arn, _deny_all_but("OnlyTheHandlerSends", ("sqs:SendMessage",), arn, {names.role_arn})
    )


def events_dead_letter_policy(names: StackNames) -> dict[str, Any]:
    """Only SQS's redrive (which is not a SendMessage) writes the events DLQ: the handler never does."""
    arn = names.queue_arn(names.events_dlq)
    return queue_policy(
        arn,
        {
            "Sid": "OnlyRedriveWrites",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:SendMessage",
            "Resource": arn,
        },
    )


def events_queue_policy(config: MailflowConfig, names: StackNames) -> dict[str, Any]:
    """SNS delivers the stack's SES events topic here, and nobody else writes: a forged event would
    reach an app as SES's word about its mail. The operators may (their redrive of the events DLQ)."""
    arn = names.queue_arn(names.events_queue)
    topic = names.events_topic_arn
    not_the_topic: dict[str, Any] = {"aws:SourceArn": topic}
    if config.security.operator_principals:
        not_the_topic["aws:PrincipalArn"] = sorted(config.security.operator_principals)
    return queue_policy(
        arn,
        {
            "Sid": "AllowTheEventsTopic",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        },
        {
            "Sid": "OnlyTheEventsTopicSends",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnNotEquals": not_the_topic},
        },
    )


def app_queue_policy(config: MailflowConfig, names: StackNames, app: AppConfig) -> dict[str, Any]:
    """An app that names its principals: only they (and the operators) read its queue, and only the
    handler (and the operators, redriving) write it."""
    arn = names.queue_arn(names.app_queue(app.name))
    if not app.sender_principals:
        return queue_policy(arn)
    operators = set(config.security.operator_principals)
    return queue_policy(
        arn,
        _deny_all_but("OnlyTheAppReads", CONSUMER_ACTIONS, arn, {*app.sender_principals, *operators}),
        _deny_all_but("OnlyTheHandlerDelivers", ("sqs:SendMessage",), arn, {names.role_arn, *operators}),
    )


def outbound_queue_policy(config: MailflowConfig, names: StackNames) -> dict[str, Any]:
    """When every app names its principals, only they (and the operators) may put outbound mail."""
    arn = names.queue_arn(names.outbound_queue)
    if not all(app.sender_principals for app in config.apps):
        return queue_policy(arn)
    senders = {principal for app in config.apps for principal in app.sender_principals}
    return queue_policy(
        arn,
        _deny_all_but(
            "OnlyTheAppsSend",
            ("sqs:SendMessage",),
            arn,
            {*senders, *config.security.operator_principals},
        ),
    )


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


def app_queue(config: MailflowConfig, names: StackNames, app: AppConfig) -> QueueSpec:
    retention = config.queues.message_retention_days * 24 * 3600
    return QueueSpec(
        name=names.app_queue(app.name),
        settings=_settings(config, config.queues.app_visibility_timeout_seconds, retention),
        dead_letter_arn=names.queue_arn(names.apps_dlq),
        dead_letter_name=names.apps_dlq,
        max_receive_count=config.queues.max_receive_count,
        tags={**tags_for(config, "app-queue"), "mailflow:app": app.name},
        policy=app_queue_policy(config, names, app),
    )


def queues(config: MailflowConfig, names: StackNames) -> tuple[QueueSpec, ...]:
    retention = config.queues.message_retention_days * 24 * 3600
    dead_letter = tuple(
        QueueSpec(
            name=dlq,
            settings=_settings(config, DLQ_VISIBILITY_SECONDS, DLQ_RETENTION_SECONDS),
            tags=tags_for(config, "dead-letter-queue"),
            policy=dead_letter_policy(names, dlq)
            if dlq in names.handler_dead_letter_queues
            else events_dead_letter_policy(names),
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
        policy=queue_policy(names.queue_arn(names.default_queue)),
    )
    outbound = QueueSpec(
        name=names.outbound_queue,
        settings=_settings(config, outbound_visibility_seconds(config), retention),
        dead_letter_arn=names.queue_arn(names.outbound_dlq),
        dead_letter_name=names.outbound_dlq,
        max_receive_count=config.queues.outbound_max_receive_count,
        tags=tags_for(config, "outbound-queue"),
        policy=outbound_queue_policy(config, names),
    )
    events = QueueSpec(
        name=names.events_queue,
        settings=_settings(config, outbound_visibility_seconds(config), retention),
        dead_letter_arn=names.queue_arn(names.events_dlq),
        dead_letter_name=names.events_dlq,
        max_receive_count=EVENTS_MAX_RECEIVE_COUNT,
        tags=tags_for(config, "ses-events-queue"),
        policy=events_queue_policy(config, names),
    )
    apps = tuple(app_queue(config, names, app) for app in config.apps)
    return (*dead_letter, default, outbound, events, *apps)
