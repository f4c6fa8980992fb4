"""The permissions boundary of the handler role: the most the role can ever do, whatever its inline
policy says. Only an administrator writes it (the deployer may not: docs/permissions.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.policy import normalise_policy
from mailflow_cli.deploy.resources.common import attachment_source_arns, comparable_tags, tags_for
from mailflow_cli.naming import BOUNDARY_PATH, StackNames

BOUNDARY_COMPONENT = "handler-boundary"


@dataclass(frozen=True)
class BoundarySpec(Resource):
    kind: ClassVar[str] = "iam-boundary-policy"
    arn: str
    path: str
    document: Mapping[str, Any]
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {"document": normalise_policy(dict(self.document)), "tags": comparable_tags(self.tags)}


def boundary_policy(config: MailflowConfig, names: StackNames) -> dict[str, Any]:
    """Per service, the actions the handler may use on the stack's own resources. It changes only with
    the domains and the attachment sources, never with the apps."""
    bucket = names.bucket_arn
    sources = attachment_source_arns(config)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "StackBucketObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
            "Resource": f"{bucket}/*",
        },
        {"Sid": "StackBucketListing", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket},
        {
            "Sid": "StackQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:SendMessage",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            "Resource": names.queue_arn(f"{names.name_prefix}*"),
        },
        {
            "Sid": "IdempotencyTable",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "Resource": names.table_arn,
        },
        {
            "Sid": "SendFromConfiguredDomains",
            "Effect": "Allow",
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": [
                f"arn:aws:ses:{names.region}:{names.account_id}:identity/*",
                names.configuration_set_arn,
            ],
            "Condition": {"StringLike": {"ses:FromAddress": [f"*@{domain}" for domain in config.domains]}},
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{names.log_group_arn}:*",
        },
    ]
    if sources:
        statements.insert(
            2, {"Sid": "AttachmentSources", "Effect": "Allow", "Action": "s3:GetObject", "Resource": sources}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def boundary(config: MailflowConfig, names: StackNames) -> BoundarySpec:
    return BoundarySpec(
        name=names.boundary_policy,
        arn=names.boundary_arn,
        path=BOUNDARY_PATH,
        document=boundary_policy(config, names),
        tags=tags_for(config, BOUNDARY_COMPONENT),
    )
