"""The handler's IAM role, bounded by the permissions boundary, and its one inline, least-privilege policy
(its size does not grow with the number of apps)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.policy import normalise_policy
from mailflow_cli.deploy.resources.boundary import BoundarySpec
from mailflow_cli.deploy.resources.common import attachment_source_arns, comparable_tags, tags_for
from mailflow_cli.naming import (
    ATTACHMENTS_PREFIX,
    CLAIMS_PREFIX,
    OUTBOUND_PREFIX,
    QUARANTINE_PREFIX,
    RAW_COPIES_PREFIX,
    RAW_PREFIX,
    StackNames,
)

TRUST_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class RoleSpec(Resource):
    kind: ClassVar[str] = "iam-role"
    arn: str
    policy_name: str
    trust_policy: Mapping[str, Any]
    policy: Mapping[str, Any]
    tags: Mapping[str, str]
    boundary_arn: str
    boundary_key: str

    def depends_on(self) -> tuple[str, ...]:
        return (self.boundary_key,)

    def attributes(self) -> dict[str, Any]:
        return {
            "trustPolicy": normalise_policy(dict(self.trust_policy)),
            "inlinePolicy": {self.policy_name: normalise_policy(dict(self.policy))},
            "permissionsBoundary": self.boundary_arn,
            "tags": comparable_tags(self.tags),
        }


def sender_patterns(config: MailflowConfig) -> list[str]:
    """The From addresses the handler may send as, as ``ses:FromAddress`` patterns: ``_<app>@<domain>``
    for every app (one pattern per domain) and every ``sendAs`` address. Lowercase, as the handler
    compares and sends them."""
    send_as = {address for app in config.apps for address in app.send_as}
    return sorted({f"_*@{domain}" for domain in config.domains} | send_as)


def delivery_queue_arns(names: StackNames) -> list[str]:
    """Where the handler puts messages: the app queues (one pattern), the default queue and the
    dead-letter queues it writes; not the outbound or events queue, which are its own input, nor the
    events DLQ, which only SQS's redrive writes."""
    return [
        names.queue_arn(names.app_queue("*")),
        names.queue_arn(names.default_queue),
        *(names.queue_arn(dlq) for dlq in names.handler_dead_letter_queues),
    ]


def handler_policy(config: MailflowConfig, names: StackNames) -> dict[str, Any]:
    """The app queues match one ARN pattern, so 1 app and 1,000 apps give the same policy."""
    bucket = names.bucket_arn
    region, account = names.region, names.account_id
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadMail",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [
                    f"{bucket}/{RAW_PREFIX}*",
                    f"{bucket}/{OUTBOUND_PREFIX}*",
                    *attachment_source_arns(config),
                ],
            },
            {
                # Without ListBucket, S3 answers AccessDenied instead of NoSuchKey for a missing object.
                "Sid": "ListMailPrefixes",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {"StringLike": {"s3:prefix": [f"{RAW_PREFIX}*", f"{OUTBOUND_PREFIX}*"]}},
            },
            {
                # The tags name the apps that may read a raw object (contract C1).
                "Sid": "TagRawMail",
                "Effect": "Allow",
                "Action": ["s3:GetObjectTagging", "s3:PutObjectTagging"],
                "Resource": f"{bucket}/{RAW_PREFIX}*",
            },
            {
                "Sid": "WriteDerivedObjects",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [
                    f"{bucket}/{ATTACHMENTS_PREFIX}*",
                    f"{bucket}/{QUARANTINE_PREFIX}*",
                    f"{bucket}/{CLAIMS_PREFIX}*",
                    f"{bucket}/{RAW_COPIES_PREFIX}*",
                ],
            },
            {
                "Sid": "DeliverToStackQueues",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                "Resource": delivery_queue_arns(names),
            },
            {
                "Sid": "ConsumeOwnQueues",
                "Effect": "Allow",
                # what Lambda's SQS event source mappings need; the handler itself calls none of them
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": [names.queue_arn(names.outbound_queue), names.queue_arn(names.events_queue)],
            },
            {
                "Sid": "Idempotency",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                "Resource": names.table_arn,
            },
            {
                # In the SES sandbox, SES also authorises against the recipient's identity, so the
                # resource is every identity and the From address is what is restricted. A send that
                # names a configuration set is authorised against it too.
                "Sid": "SendMailAsConfiguredSenders",
                "Effect": "Allow",
                "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                "Resource": [f"arn:aws:ses:{region}:{account}:identity/*", names.configuration_set_arn],
                "Condition": {"StringLike": {"ses:FromAddress": sender_patterns(config)}},
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{names.log_group_arn}:*",
            },
        ],
    }


def role(config: MailflowConfig, names: StackNames, boundary: BoundarySpec) -> RoleSpec:
    return RoleSpec(
        name=names.role,
        arn=names.role_arn,
        policy_name=names.role_policy,
        trust_policy=TRUST_POLICY,
        policy=handler_policy(config, names),
        tags=tags_for(config, "handler-role"),
        boundary_arn=boundary.arn,
        boundary_key=boundary.key,
    )
