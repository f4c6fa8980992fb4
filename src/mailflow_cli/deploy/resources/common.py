"""Helpers shared by the resource descriptions."""

from __future__ import annotations

from collections.abc import Mapping

from mailflow_cli.config import MailflowConfig
from mailflow_cli.errors import ConfigError
from mailflow_cli.naming import OUTBOUND_PREFIX, StackNames, ownership_tags


def tags_for(config: MailflowConfig, component: str) -> Mapping[str, str]:
    return dict(sorted(ownership_tags(config, component).items()))


def comparable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as compared: AWS's own (aws:*) are not ours to manage."""
    return {key: value for key, value in sorted(tags.items()) if not key.startswith("aws:")}


def attachment_source_arns(config: MailflowConfig) -> list[str]:
    """The IAM resources of ``outbound.attachmentSources`` (validated: no wildcard can reach them)."""
    arns = []
    for location in config.outbound.attachment_sources:
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        arns.append(f"arn:aws:s3:::{bucket}/{prefix}*")
    return arns


def check_attachment_sources(config: MailflowConfig, names: StackNames) -> None:
    """The second gate of config validation, which knows the stack bucket's name only by its pattern:
    in the stack's own bucket, only locations under outbound/ may be attachment sources."""
    for position, location in enumerate(config.outbound.attachment_sources):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if bucket == names.bucket and not prefix.startswith(OUTBOUND_PREFIX):
            raise ConfigError(
                f"outbound.attachmentSources[{position}]: {location!r} is in this stack's own bucket, "
                f"outside {OUTBOUND_PREFIX}: every app could attach (and send out) other apps' mail",
                hint=f"remove it; apps attach their own files from s3://{bucket}/{OUTBOUND_PREFIX}<app>/ "
                "without any entry in attachmentSources",
            )
