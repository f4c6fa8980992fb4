"""The stack's outputs, read from AWS without changing anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import MISSING_QUEUE_CODES, error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.deploy.handlers.base import fan_out, paginate
from mailflow_cli.deploy.handlers.queues import LIST_QUEUES_PAGE
from mailflow_cli.deploy.handlers.receipt_rule import active_rule_set
from mailflow_cli.deploy.resources.receipt_rule import target_rule_set
from mailflow_cli.errors import StackNotFoundError


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """What ``outputs`` reads (a deploy reads only what its plan did not find)."""
    return (
        allow(scopes.any, "sqs:ListQueues", "ses:DescribeActiveReceiptRuleSet"),
        allow(scopes.queues, "sqs:GetQueueUrl"),
        allow(scopes.function, "lambda:GetFunctionConfiguration"),
    )


@dataclass(frozen=True)
class StackOutputs:
    environment: str
    region: str
    app_queue_urls: dict[str, str]
    default_queue_url: str
    outbound_queue_url: str
    events_queue_url: str
    dead_letter_queue_urls: dict[str, str]
    lambda_function_name: str
    lambda_function_arn: str
    raw_emails_bucket_name: str
    idempotency_table_name: str
    receipt_rule_set: str
    receipt_rule_set_active: bool
    alarm_topic_arn: str | None
    configuration_set: str
    events_topic_arn: str

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "region": self.region,
            "appQueueUrls": dict(self.app_queue_urls),
            "defaultQueueUrl": self.default_queue_url,
            "outboundQueueUrl": self.outbound_queue_url,
            "sesEventsQueueUrl": self.events_queue_url,
            "deadLetterQueueUrls": dict(self.dead_letter_queue_urls),
            "lambdaFunctionName": self.lambda_function_name,
            "lambdaFunctionArn": self.lambda_function_arn,
            "rawEmailsBucketName": self.raw_emails_bucket_name,
            "idempotencyTableName": self.idempotency_table_name,
            "receiptRuleSet": self.receipt_rule_set,
            "receiptRuleSetActive": self.receipt_rule_set_active,
            "alarmTopicArn": self.alarm_topic_arn,
            "configurationSet": self.configuration_set,
            "sesEventsTopicArn": self.events_topic_arn,
        }


def _not_deployed(ctx: StackContext, what: str) -> StackNotFoundError:
    return StackNotFoundError(
        f"the stack {ctx.names.prefix} is not deployed in {ctx.config.region} ({what} is missing)",
        hint="run `mailflow deploy`, or check the account (--profile) and region",
    )


def _queue_names(ctx: StackContext) -> list[str]:
    """Every queue the outputs name, in the order a missing one is reported."""
    names = ctx.names
    return [
        *(names.app_queue(app) for app in ctx.config.app_names),
        names.default_queue,
        names.outbound_queue,
        names.events_queue,
        *names.dead_letter_queues,
    ]


def _queue_urls(ctx: StackContext, known: Mapping[str, str]) -> dict[str, str]:
    """Name -> URL of every queue the outputs name: ``known`` first, then one ``ListQueues`` by the
    stack's prefix (all pages), then ``GetQueueUrl`` only for a queue neither had (``ListQueues`` is
    eventually consistent); a queue that does not exist means the stack is not deployed."""
    wanted = _queue_names(ctx)
    urls = {name: known[name] for name in wanted if name in known}
    sqs = ctx.clients.client("sqs")
    if len(urls) < len(wanted):
        try:
            listed = paginate(
                sqs,
                "list_queues",
                "QueueUrls",
                QueueNamePrefix=ctx.names.name_prefix,
                PaginationConfig={"PageSize": LIST_QUEUES_PAGE},
            )
        except ClientError as exc:
            raise translate_client_error(exc, f"the queues of {ctx.names.prefix}") from exc
        by_name = {str(url).rsplit("/", 1)[-1]: str(url) for url in listed}
        urls.update({name: by_name[name] for name in wanted if name in by_name and name not in urls})

    def url(queue: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])
        except ClientError as exc:
            if error_code(exc) in MISSING_QUEUE_CODES:
                raise _not_deployed(ctx, f"queue {queue}") from None
            raise translate_client_error(exc, f"queue {queue}") from exc

    unlisted = [name for name in wanted if name not in urls]
    urls.update(zip(unlisted, fan_out(url, unlisted), strict=True))
    return urls


def _function_arn(ctx: StackContext) -> str:
    name = ctx.names.function
    try:
        function = ctx.clients.client("lambda").get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise _not_deployed(ctx, f"function {name}") from None
        raise translate_client_error(exc, f"function {name}") from exc
    return str(function["FunctionArn"])


@dataclass(frozen=True)
class KnownOutputs:
    """What a deploy already knows when it prints its outputs: the URLs and the ARN that discovery found
    or the creates returned, and whether its rule set is active (a deploy that succeeded made it so)."""

    queue_urls: Mapping[str, str] = field(default_factory=dict)
    function_arn: str | None = None
    rule_set_active: bool | None = None


def read_outputs(ctx: StackContext) -> StackOutputs:
    """Read the stack's outputs from AWS (read-only; the function, queue and rule-set reads run at the
    same time)."""
    return collect_outputs(ctx, KnownOutputs())


def collect_outputs(ctx: StackContext, known: KnownOutputs) -> StackOutputs:
    """The outputs, reading from AWS only what ``known`` does not hold."""
    names = ctx.names
    rule_set = target_rule_set(ctx.config)

    def read_function() -> str:
        return known.function_arn if known.function_arn is not None else _function_arn(ctx)

    def read_queues() -> dict[str, str]:
        return _queue_urls(ctx, known.queue_urls)

    def read_active() -> bool:
        if known.rule_set_active is not None:
            return known.rule_set_active
        return active_rule_set(ctx.clients.client("ses")) == rule_set

    # In this order, so that a missing function is reported before a missing queue.
    reads: list[Callable[[], Any]] = [read_function, read_queues, read_active]
    arn, urls, active = fan_out(lambda read: read(), reads)
    email = ctx.config.alarms.email if ctx.config.alarms.enabled else None
    return StackOutputs(
        environment=ctx.config.environment,
        region=ctx.config.region,
        app_queue_urls={app: urls[names.app_queue(app)] for app in ctx.config.app_names},
        default_queue_url=urls[names.default_queue],
        outbound_queue_url=urls[names.outbound_queue],
        events_queue_url=urls[names.events_queue],
        dead_letter_queue_urls={
            "apps": urls[names.apps_dlq],
            "outbound": urls[names.outbound_dlq],
            "inbound": urls[names.inbound_dlq],
            "events": urls[names.events_dlq],
        },
        lambda_function_name=names.function,
        lambda_function_arn=arn,
        raw_emails_bucket_name=names.bucket,
        idempotency_table_name=names.table,
        receipt_rule_set=rule_set,
        receipt_rule_set_active=active,
        alarm_topic_arn=names.topic_arn if email else None,
        configuration_set=names.configuration_set,
        events_topic_arn=names.events_topic_arn,
    )
