"""The DynamoDB idempotency table: on-demand, key ``id``, TTL on ``expiration``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.naming import StackNames

KEY_ATTRIBUTE = "id"
TTL_ATTRIBUTE = "expiration"
BILLING_MODE = "PAY_PER_REQUEST"


@dataclass(frozen=True)
class TableSpec(Resource):
    kind: ClassVar[str] = "dynamodb-table"
    arn: str
    tags: Mapping[str, str]

    def attributes(self) -> dict[str, Any]:
        return {
            "billingMode": BILLING_MODE,
            "ttlAttribute": TTL_ATTRIBUTE,
            "tags": comparable_tags(self.tags),
        }


def table(config: MailflowConfig, names: StackNames) -> TableSpec:
    return TableSpec(name=names.table, arn=names.table_arn, tags=tags_for(config, "idempotency"))
