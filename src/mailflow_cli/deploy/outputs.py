"""The stack's outputs, read from AWS without changing anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.deploy.handlers.receipt_rule import active_rule_set
from mailflow_cli.deploy.resources.receipt_rule import target_rule_set
from mailflow_cli.errors import StackNotFoundError

_MISSING_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


@dataclass(frozen=True)
class StackOutputs:
    environment: str
    region: str
    app_queue_urls: dict[str, str]
    default_queue_url: str
    outbound_queue_url: str
    dead_letter_queue_urls: dict[str, str]
    lambda_function_name: str
    lambda_function_arn: str
    raw_emails_bucket_name: str
    idempotency_table_name: str
    receipt_rule_set: str
    receipt_rule_set_active: bool
    alarm_topic_arn: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "region": self.region,
            "appQueueUrls": dict(self.app_queue_urls),
            "defaultQueueUrl": self.default_queue_url,
            "outboundQueueUrl": self.outbound_queue_url,
            "deadLetterQueueUrls": dict(self.dead_letter_queue_urls),
            "lambdaFunctionName": self.lambda_function_name,
            "lambdaFunctionArn": self.lambda_function_arn,
            "rawEmailsBucketName": self.raw_emails_bucket_name,
            "idempotencyTableName": self.idempotency_table_name,
            "receiptRuleSet": self.receipt_rule_set,
            "receiptRuleSetActive": self.receipt_rule_set_active,
            "alarmTopicArn": self.alarm_topic_arn,
        }


def _not_deployed(ctx: StackContext, what: str) -> StackNotFoundError:
    return StackNotFoundError(
        f"the stack {ctx.names.prefix} is not deployed in {ctx.config.region} ({what} is missing)",
        hint="run `mailflow deploy`, or check the account (--profile) and region",
    )


def read_outputs(ctx: StackContext) -> StackOutputs:
    names = ctx.names
    sqs = ctx.clients.client("sqs")

    def url(queue: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])
        except ClientError as exc:
            if error_code(exc) in _MISSING_QUEUE:
                raise _not_deployed(ctx, f"queue {queue}") from None
            raise translate_client_error(exc, f"queue {queue}") from exc

    try:
        function = ctx.clients.client("lambda").get_function_configuration(FunctionName=names.function)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise _not_deployed(ctx, f"function {names.function}") from None
        raise translate_client_error(exc, f"function {names.function}") from exc
    rule_set = target_rule_set(ctx.config)
    email = ctx.config.alarms.email if ctx.config.alarms.enabled else None
    return StackOutputs(
        environment=ctx.config.environment,
        region=ctx.config.region,
        app_queue_urls={app: url(names.app_queue(app)) for app in ctx.config.app_names},
        default_queue_url=url(names.default_queue),
        outbound_queue_url=url(names.outbound_queue),
        dead_letter_queue_urls={
            "apps": url(names.apps_dlq),
            "outbound": url(names.outbound_dlq),
            "inbound": url(names.inbound_dlq),
        },
        lambda_function_name=names.function,
        lambda_function_arn=str(function["FunctionArn"]),
        raw_emails_bucket_name=names.bucket,
        idempotency_table_name=names.table,
        receipt_rule_set=rule_set,
        receipt_rule_set_active=active_rule_set(ctx.clients.client("ses")) == rule_set,
        alarm_topic_arn=names.topic_arn if email else None,
    )
