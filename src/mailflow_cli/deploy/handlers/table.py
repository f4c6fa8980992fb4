"""DynamoDB: the idempotency table and its TTL."""

from __future__ import annotations

from botocore.exceptions import ClientError

from mailflow_cli.deploy.handlers.base import ResourceHandler, both, missing, tag_delta, tag_dict, tag_list
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.table import BILLING_MODE, KEY_ATTRIBUTE, TTL_ATTRIBUTE, TableSpec
from mailflow_cli.errors import MailflowError


class TableHandler(ResourceHandler[TableSpec]):
    resource_type = TableSpec

    def discover(self, resource: TableSpec) -> Observed | None:
        dynamodb = self.client("dynamodb")
        try:
            table = dynamodb.describe_table(TableName=resource.name)["Table"]
        except ClientError as exc:
            if missing(exc, "ResourceNotFoundException"):
                return None
            raise
        arn = table.get("TableArn", resource.arn)
        tag_items, ttl = both(
            lambda: dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags"),
            lambda: dynamodb.describe_time_to_live(TableName=resource.name).get("TimeToLiveDescription", {}),
        )
        tags = tag_dict(tag_items)
        ttl_attribute = (
            ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} else None
        )
        billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        return Observed(
            {"billingMode": billing, "ttlAttribute": ttl_attribute, "tags": comparable_tags(tags)},
            owned=self.owns(tags),
            handle={
                "arn": arn,
                "ttlStatus": ttl.get("TimeToLiveStatus", "DISABLED"),
                "ttlAttribute": ttl.get("AttributeName"),
            },
        )

    def create(self, resource: TableSpec, step: StepReporter) -> None:
        dynamodb = self.client("dynamodb")
        created = dynamodb.create_table(
            TableName=resource.name,
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            BillingMode=BILLING_MODE,
            Tags=tag_list(resource.tags),
        )
        if created.get("TableDescription", {}).get("TableStatus") != "ACTIVE":  # AWS answers CREATING
            self._wait_active(resource, "the table to become ACTIVE", step)
        dynamodb.update_time_to_live(
            TableName=resource.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )

    def update(
        self, resource: TableSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        dynamodb = self.client("dynamodb")
        if "billingMode" in changed:
            dynamodb.update_table(TableName=resource.name, BillingMode=BILLING_MODE)
            self._wait_active(resource, "the table update to finish", step)
        if "ttlAttribute" in changed:
            self._enable_ttl(resource, observed)
        if "tags" in changed:
            arn = observed.handle["arn"]
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                dynamodb.tag_resource(ResourceArn=arn, Tags=tag_list(to_set))
            if to_remove:
                dynamodb.untag_resource(ResourceArn=arn, TagKeys=to_remove)

    def _wait_active(self, resource: TableSpec, what: str, step: StepReporter) -> None:
        self.services.retry.wait_for(
            self.client("dynamodb"),
            "table_exists",
            waiting=step.waiting,
            what=what,
            gave_up="the table is still not ACTIVE",
            TableName=resource.name,
        )

    def _enable_ttl(self, resource: TableSpec, observed: Observed) -> None:
        """Enable TTL where none is set. DynamoDB allows one UpdateTimeToLive per table per hour or so,
        and refuses it while TTL is DISABLING: moving TTL to another attribute cannot be done in one run."""
        status = observed.handle.get("ttlStatus", "DISABLED")
        if status != "DISABLED":
            attribute = observed.handle.get("ttlAttribute") or "another attribute"
            raise MailflowError(
                f"the table {resource.name} has TTL {status} on {attribute!r}, not on {TTL_ATTRIBUTE!r}",
                hint=(
                    f"disable TTL on {resource.name} (aws dynamodb update-time-to-live), wait up to an hour "
                    "until it reads DISABLED, then deploy again: DynamoDB allows one TTL change per table "
                    "per hour"
                ),
            )
        self.client("dynamodb").update_time_to_live(
            TableName=resource.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    def delete(self, resource: TableSpec, observed: Observed, step: StepReporter) -> None:
        self.client("dynamodb").delete_table(TableName=resource.name)
