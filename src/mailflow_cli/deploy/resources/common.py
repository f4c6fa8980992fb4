"""Helpers shared by the resource descriptions."""

from __future__ import annotations

from collections.abc import Mapping

from mailflow_cli.config import MailflowConfig
from mailflow_cli.naming import ownership_tags


def tags_for(config: MailflowConfig, component: str) -> Mapping[str, str]:
    return dict(sorted(ownership_tags(config, component).items()))


def comparable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as compared: AWS's own (aws:*) are not ours to manage."""
    return {key: value for key, value in sorted(tags.items()) if not key.startswith("aws:")}
