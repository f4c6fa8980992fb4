"""Transient AWS states are retried without sleeping in tests; user-actionable errors are one sentence."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import ProgressEvent, RetryPolicy, Status, deploy_stack
from mailflow_cli.deploy.retry import NO_WAIT, mapping_in_use, role_not_yet_assumable
from mailflow_cli.errors import AwsError, MailflowError


def client_error(code: str, message: str, operation: str = "CreateFunction") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_function_creation_waits_for_the_role_to_become_assumable(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    sleeps: list[float] = []
    ctx.extras["retry_policy"] = RetryPolicy(sleep=sleeps.append, waiter_delay=0)
    lambda_ = ctx.clients.client("lambda")
    real_create = lambda_.create_function
    refusals = iter(
        [
            client_error(
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            )
        ]
        * 2
    )

    def create_function(**kwargs: Any) -> Any:
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        return real_create(**kwargs)

    events: list[ProgressEvent] = []
    with mock.patch.object(lambda_, "create_function", side_effect=create_function):
        deploy_stack(ctx, progress=events.append)
    assert len(sleeps) == 2
    waits = [
        e.detail
        for e in events
        if e.status is Status.WAITING and e.key == "lambda-function:mailflow-dev-handler"
    ]
    assert "the new IAM role to become assumable by Lambda" in waits
    assert (
        aws_client("lambda").get_function(FunctionName="mailflow-dev-handler")["Configuration"]["State"]
        == "Active"
    )


def test_retry_gives_up_and_reports_the_last_error() -> None:
    attempts: list[int] = []

    def always_in_use() -> None:
        attempts.append(1)
        raise client_error("ResourceInUseException", "mapping is in use", "UpdateEventSourceMapping")

    with pytest.raises(ClientError):
        RetryPolicy(attempts=4, sleep=lambda _s: None).call(
            always_in_use, when=mapping_in_use, waiting=lambda _what: None, what="mapping"
        )
    assert len(attempts) == 4


def test_other_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def denied() -> None:
        attempts.append(1)
        raise client_error("AccessDeniedException", "no")

    with pytest.raises(ClientError):
        NO_WAIT.call(denied, when=role_not_yet_assumable, waiting=lambda _what: None, what="role")
    assert attempts == [1]


def test_access_denied_names_the_resource_and_the_hint(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())

    def deny(model: Any, **_: Any) -> None:
        if model.name == "CreateTable":
            raise client_error(
                "AccessDeniedException", "not authorized to perform dynamodb:CreateTable", "CreateTable"
            )

    ctx.clients.event_hooks.append(("before-call.*.*", deny))
    with pytest.raises(AwsError) as denied:
        deploy_stack(ctx)
    assert denied.value.message.startswith(
        "dynamodb-table mailflow-dev-idempotency: access denied for CreateTable"
    )
    assert "docs/permissions.md" in str(denied.value.hint)


def test_a_region_without_ses_receiving_stops_before_any_call(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config(region="eu-south-2"))
    with pytest.raises(MailflowError, match="does not support SES email receiving"):
        deploy_stack(ctx)
    assert recorder.calls == []


@pytest.mark.parametrize(
    "message",
    [
        "The role defined for the function cannot be assumed by Lambda.",
        "The provided execution role does not have permissions to call SendMessage on SQS",
        "The function execution role does not have permissions to call ReceiveMessage on SQS",
    ],
)
def test_iam_propagation_delays_are_retried(message: str) -> None:
    assert role_not_yet_assumable(client_error("InvalidParameterValueException", message))
    assert not role_not_yet_assumable(
        client_error("InvalidParameterValueException", "Runtime is not supported")
    )


def _refuse_twice(client: Any, operation: str, code: str, message: str) -> Any:
    real = getattr(client, operation)
    refusals = iter([client_error(code, message, operation)] * 2)

    def call(**kwargs: Any) -> Any:
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        return real(**kwargs)

    return mock.patch.object(client, operation, side_effect=call)


def _waits(events: list[ProgressEvent], key: str) -> list[str]:
    return [e.detail for e in events if e.status is Status.WAITING and e.key == key]


def test_a_queue_name_deleted_recently_is_retried(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    sleeps: list[float] = []
    ctx.extras["retry_policy"] = RetryPolicy(sleep=sleeps.append, waiter_delay=0)
    sqs = ctx.clients.client("sqs")
    events: list[ProgressEvent] = []
    code = "AWS.SimpleQueueService.QueueDeletedRecently"
    with _refuse_twice(sqs, "create_queue", code, "You must wait 60 seconds after deleting a queue"):
        deploy_stack(ctx, progress=events.append)
    assert len(sleeps) == 2
    waiting = [e.detail for e in events if e.status is Status.WAITING and e.key.startswith("sqs-queue:")]
    assert "SQS needs 60 s after deleting a queue before its name can be reused" in waiting
    assert (
        "mailflow-dev-inbound-dlq"
        in aws_client("sqs").get_queue_url(QueueName="mailflow-dev-inbound-dlq")["QueueUrl"]
    )


@pytest.mark.parametrize("code", ["InvalidS3Configuration", "InvalidLambdaFunction"])
def test_the_receipt_rule_waits_for_the_bucket_policy_and_permission(
    code: str, aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    sleeps: list[float] = []
    ctx.extras["retry_policy"] = RetryPolicy(sleep=sleeps.append, waiter_delay=0)
    ses = ctx.clients.client("ses")
    events: list[ProgressEvent] = []
    with _refuse_twice(ses, "create_receipt_rule", code, "Could not write to bucket"):
        deploy_stack(ctx, progress=events.append)
    assert len(sleeps) == 2
    assert any(
        "propagate" in detail
        for detail in _waits(events, "ses-receipt-rule:mailflow-receipt-rules/mailflow-dev-inbound")
    )
    assert aws_client("ses").describe_receipt_rule(
        RuleSetName="mailflow-receipt-rules", RuleName="mailflow-dev-inbound"
    )["Rule"]["Enabled"]


def test_a_receipt_rule_update_waits_too(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    first, _ = open_recorded(write_config())
    deploy_stack(first)
    ctx, _ = open_recorded(write_config(domains=["example.com", "example.net"]))
    sleeps: list[float] = []
    ctx.extras["retry_policy"] = RetryPolicy(sleep=sleeps.append, waiter_delay=0)
    ses = ctx.clients.client("ses")
    with _refuse_twice(ses, "update_receipt_rule", "InvalidLambdaFunction", "Could not invoke"):
        deploy_stack(ctx)
    assert len(sleeps) == 2
    rule = aws_client("ses").describe_receipt_rule(
        RuleSetName="mailflow-receipt-rules", RuleName="mailflow-dev-inbound"
    )["Rule"]
    assert sorted(rule["Recipients"]) == ["example.com", "example.net"]


def test_a_bucket_answering_403_is_a_conflict_naming_both_causes(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    from mailflow_cli.deploy import plan_stack

    ctx, _ = open_recorded(write_config())
    s3 = ctx.clients.client("s3")
    forbidden = ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")
    with mock.patch.object(s3, "head_bucket", side_effect=forbidden):
        plan = plan_stack(ctx)
    [conflict] = [c for c in plan.conflicts if c.kind == "s3-bucket"]
    assert "not accessible: another AWS account owns this name, or these credentials lack s3:ListBucket" in (
        conflict.reason
    )
