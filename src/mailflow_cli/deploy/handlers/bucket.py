"""S3: the raw-mail bucket and its policy, encryption, public-access block, lifecycle and tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.aws import error_code
from mailflow_cli.deploy.handlers.base import (
    ResourceHandler,
    concurrently,
    fan_out,
    missing,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Conflict, Observed
from mailflow_cli.deploy.policy import normalise_policy, policy_json
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.bucket import PUBLIC_ACCESS_BLOCK, BucketSpec, LifecycleRule
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.retry import BUCKET_BUSY

_NOT_FOUND = ("404", "NoSuchBucket", "NotFound")
_FOREIGN = ("403", "AccessDenied", "Forbidden")
_DELETE_BATCH = 1000
_CONFIGURATION = ("publicAccessBlock", "encryption", "lifecycle", "policy")


def _lifecycle_rule(rule: LifecycleRule) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ID": rule.rule_id,
        "Status": "Enabled",
        "Filter": {"Prefix": rule.prefix},
    }
    if rule.expiration_days is not None:
        body["Expiration"] = {"Days": rule.expiration_days}
    if rule.abort_incomplete_upload_days is not None:
        body["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_incomplete_upload_days}
    return body


def _observed_rule(rule: dict[str, Any]) -> dict[str, Any]:
    prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
    return {
        "id": rule.get("ID"),
        "prefix": prefix,
        "expirationDays": rule.get("Expiration", {}).get("Days"),
        "abortIncompleteMultipartUploadDays": rule.get("AbortIncompleteMultipartUpload", {}).get(
            "DaysAfterInitiation"
        ),
    }


class BucketHandler(ResourceHandler[BucketSpec]):
    resource_type = BucketSpec

    def discover(self, resource: BucketSpec) -> Observed | None:
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=resource.name)
        except ClientError as exc:
            if missing(exc, *_NOT_FOUND):
                return None
            if missing(exc, *_FOREIGN):
                return Observed({}, owned=False, handle={"foreignAccount": True})
            raise
        tags = self._tags(resource.name)
        if not self.owns(tags):
            return Observed({"tags": tags}, owned=False)
        bucket = resource.name
        reads: dict[str, Callable[[str], Any]] = {
            "encryption": self._encryption,
            "publicAccessBlock": self._public_access_block,
            "lifecycle": self._lifecycle,
            "policy": self._policy,
            "hasObjects": self._has_objects,
        }
        found = dict(zip(reads, fan_out(lambda read: read(bucket), list(reads.values())), strict=True))
        has_objects = found.pop("hasObjects")
        return Observed({**found, "tags": comparable_tags(tags)}, handle={"hasObjects": has_objects})

    def _tags(self, bucket: str) -> dict[str, str]:
        try:
            return tag_dict(self.client("s3").get_bucket_tagging(Bucket=bucket).get("TagSet"))
        except ClientError as exc:
            if missing(exc, "NoSuchTagSet", "NoSuchTagSetError"):
                return {}
            raise

    def _encryption(self, bucket: str) -> str | None:
        try:
            rules = self.client("s3").get_bucket_encryption(Bucket=bucket)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
        except ClientError as exc:
            if missing(exc, "ServerSideEncryptionConfigurationNotFoundError"):
                return None
            raise
        return str(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]) if rules else None

    def _public_access_block(self, bucket: str) -> dict[str, bool] | None:
        try:
            block = self.client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if missing(exc, "NoSuchPublicAccessBlockConfiguration"):
                return None
            raise
        return {key: bool(block.get(key, False)) for key in PUBLIC_ACCESS_BLOCK}

    def _lifecycle(self, bucket: str) -> list[dict[str, Any]]:
        try:
            rules = self.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        except ClientError as exc:
            if missing(exc, "NoSuchLifecycleConfiguration"):
                return []
            raise
        return sorted((_observed_rule(rule) for rule in rules), key=lambda rule: str(rule["id"]))

    def _policy(self, bucket: str) -> dict[str, Any] | None:
        try:
            return normalise_policy(self.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError as exc:
            if missing(exc, "NoSuchBucketPolicy"):
                return None
            raise

    def _has_objects(self, bucket: str) -> bool:
        page = self.client("s3").list_object_versions(Bucket=bucket, MaxKeys=1)
        return bool(page.get("Versions") or page.get("DeleteMarkers"))

    def assess(self, resource: BucketSpec, observed: Observed | None) -> Conflict | None:
        if observed is not None and observed.handle.get("foreignAccount"):
            return Conflict(
                resource.kind,
                resource.name,
                "the bucket is not accessible: another AWS account owns this name, or these credentials "
                "lack s3:ListBucket on it",
                hint="the name contains your account id, so check the account in use and the permissions "
                "in docs/permissions.md",
            )
        return super().assess(resource, observed)

    def holds_data(self, observed: Observed) -> str | None:
        return "still holds objects" if observed.handle.get("hasObjects") else None

    def create(self, resource: BucketSpec, step: StepReporter) -> None:
        s3 = self.client("s3")
        configuration: dict[str, Any] = {"Tags": tag_list(resource.tags)}
        if resource.region != "us-east-1":
            configuration["LocationConstraint"] = resource.region
        self.services.retry.call(
            lambda: s3.create_bucket(Bucket=resource.name, CreateBucketConfiguration=configuration),
            when=BUCKET_BUSY,
            waiting=step.waiting,
        )
        self.services.retry.wait_for(
            s3,
            "bucket_exists",
            waiting=step.waiting,
            what="the bucket to exist",
            gave_up="S3 does not show the new bucket yet",
            Bucket=resource.name,
        )
        self._apply(resource, frozenset({"tags", *_CONFIGURATION}), step)

    def update(
        self, resource: BucketSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        self._apply(resource, changed, step)

    def _apply(self, resource: BucketSpec, changed: frozenset[str], step: StepReporter) -> None:
        """The changed configuration calls, concurrently once the bucket exists. The public-access block
        goes before the policy: the pair is the one most often reported to overlap into OperationAborted,
        which any of these calls is retried on."""
        s3 = self.client("s3")
        bucket = resource.name

        def retried(call: Callable[[], object]) -> None:
            self.services.retry.call(call, when=BUCKET_BUSY, waiting=step.waiting)

        def public_access_then_policy() -> None:
            if "publicAccessBlock" in changed:
                retried(
                    lambda: s3.put_public_access_block(
                        Bucket=bucket, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK)
                    )
                )
            if "policy" in changed:
                retried(
                    lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy_json(dict(resource.policy)))
                )

        calls: list[Callable[[], object]] = []
        if changed & {"publicAccessBlock", "policy"}:
            calls.append(public_access_then_policy)
        if "encryption" in changed:
            calls.append(
                lambda: retried(
                    lambda: s3.put_bucket_encryption(
                        Bucket=bucket,
                        ServerSideEncryptionConfiguration={
                            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                        },
                    )
                )
            )
        if "lifecycle" in changed:
            calls.append(
                lambda: retried(
                    lambda: s3.put_bucket_lifecycle_configuration(
                        Bucket=bucket,
                        LifecycleConfiguration={
                            "Rules": [_lifecycle_rule(rule) for rule in resource.lifecycle]
                        },
                    )
                )
            )
        if "tags" in changed:
            calls.append(
                lambda: retried(
                    lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(resource.tags)})
                )
            )
        concurrently(*calls)

    def delete(self, resource: BucketSpec, observed: Observed, step: StepReporter) -> None:
        # Empty even a bucket that was empty when planned: the function, still running until its
        # receipt rule is gone, may have written meanwhile. Once more if S3 still finds it not empty.
        s3 = self.client("s3")
        step.waiting("the bucket to be emptied (all object versions)")
        self._empty(resource.name)
        try:
            s3.delete_bucket(Bucket=resource.name)
        except ClientError as exc:
            if error_code(exc) != "BucketNotEmpty":
                raise
            step.waiting("the bucket to be emptied again: objects arrived while it was being deleted")
            self._empty(resource.name)
            s3.delete_bucket(Bucket=resource.name)

    def _empty(self, bucket: str) -> None:
        s3 = self.client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(keys), _DELETE_BATCH):
                s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": keys[start : start + _DELETE_BATCH], "Quiet": True}
                )
