"""The raw-mail bucket: lifecycle per prefix, encryption, no public access, TLS-only, SES writes raw/ only,
and only the handler role writes what apps are authorised by (derived objects, raw-object tags)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.policy import normalise_policy
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import (
    ATTACHMENTS_PREFIX,
    CLAIMS_PREFIX,
    OUTBOUND_PREFIX,
    QUARANTINE_PREFIX,
    RAW_COPIES_PREFIX,
    RAW_PREFIX,
    StackNames,
)

HANDLER_WRITTEN_PREFIXES = (ATTACHMENTS_PREFIX, CLAIMS_PREFIX, QUARANTINE_PREFIX, RAW_COPIES_PREFIX)
TAGGING_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:DeleteObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectVersionTagging",
)
"""Every way to change an object's tags; the raw object's tags say which apps may read it."""

ABORT_INCOMPLETE_UPLOAD_DAYS = 1
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass(frozen=True)
class LifecycleRule:
    rule_id: str
    prefix: str
    expiration_days: int | None
    abort_incomplete_upload_days: int | None = None
    """Only on the bucket-wide rule: an abort rule with an empty prefix covers every key."""

    def to_attribute(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "prefix": self.prefix,
            "expirationDays": self.expiration_days,
            "abortIncompleteMultipartUploadDays": self.abort_incomplete_upload_days,
        }


@dataclass(frozen=True)
class BucketSpec(Resource):
    kind: ClassVar[str] = "s3-bucket"
    region: str
    policy: Mapping[str, Any]
    lifecycle: tuple[LifecycleRule, ...]
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {
            "encryption": "AES256",
            "publicAccessBlock": dict(PUBLIC_ACCESS_BLOCK),
            "lifecycle": sorted((rule.to_attribute() for rule in self.lifecycle), key=lambda r: r["id"]),
            "policy": normalise_policy(dict(self.policy)),
            "tags": comparable_tags(self.tags),
        }


def bucket_policy(names: StackNames, rule_set: str) -> dict[str, Any]:
    only_the_handler = {"ArnNotEquals": {"aws:PrincipalArn": names.role_arn}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [names.bucket_arn, f"{names.bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AllowSesToStoreRawMail",
                "Effect": "Allow",
                "Principal": {"Service": "ses.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{names.bucket_arn}/{RAW_PREFIX}*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                    "ArnLike": {"aws:SourceArn": names.receipt_rule_arn(rule_set)},
                },
            },
            {
                # Per-app objects are authorised by their prefix: a writer of these prefixes could put
                # mail in front of another app.
                "Sid": "OnlyTheHandlerWritesDerivedObjects",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": [f"{names.bucket_arn}/{prefix}*" for prefix in HANDLER_WRITTEN_PREFIXES],
                "Condition": only_the_handler,
            },
            {
                # Raw mail is authorised by its tags: a tagger of raw/ could grant itself any app's mail.
                "Sid": "OnlyTheHandlerTagsRawMail",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(TAGGING_ACTIONS),
                "Resource": f"{names.bucket_arn}/{RAW_PREFIX}*",
                "Condition": only_the_handler,
            },
        ],
    }


def lifecycle_rules(config: MailflowConfig) -> tuple[LifecycleRule, ...]:
    storage = config.storage
    return (
        LifecycleRule("expire-raw", RAW_PREFIX, storage.raw_retention_days),
        # A copy of the raw mail for a target past the tenth tag lives exactly as long as the original.
        LifecycleRule("expire-raw-copies", RAW_COPIES_PREFIX, storage.raw_retention_days),
        LifecycleRule("expire-attachments", ATTACHMENTS_PREFIX, storage.attachment_retention_days),
        LifecycleRule("expire-quarantine", QUARANTINE_PREFIX, storage.quarantine_retention_days),
        LifecycleRule("expire-outbound", OUTBOUND_PREFIX, storage.outbound_retention_days),
        # A claim check must outlive the queue message that points at it.
        LifecycleRule("expire-claims", CLAIMS_PREFIX, config.queues.message_retention_days + 1),
        LifecycleRule("abort-incomplete-uploads", "", None, ABORT_INCOMPLETE_UPLOAD_DAYS),
    )


def bucket(config: MailflowConfig, names: StackNames, rule_set: str) -> BucketSpec:
    return BucketSpec(
        name=names.bucket,
        region=names.region,
        policy=bucket_policy(names, rule_set),
        lifecycle=lifecycle_rules(config),
        tags=tags_for(config, "storage"),
    )
