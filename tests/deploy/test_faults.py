"""Transient AWS states are retried without sleeping in tests; user-actionable errors are one sentence."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import ProgressEvent, RetryPolicy, Status, deploy_stack
from mailflow_cli.deploy.retry import (
    MAPPING_IN_USE,
    NO_WAIT,
    ROLE_NOT_ASSUMABLE,
    ROLE_PERMISSIONS_NOT_VISIBLE,
    WaitFailed,
)
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
    assert sleeps == [1, 2]
    waits = [
        e.detail
        for e in events
        if e.status is Status.WAITING and e.key == "lambda-function:mailflow-dev-handler"
    ]
    assert waits[:2] == [
        "IAM to propagate the new role to Lambda (retry 1 in 1 s; 0 s of at most 120 s waited)",
        "IAM to propagate the new role to Lambda (retry 2 in 2 s; 1 s of at most 120 s waited)",
    ]
    assert (
        aws_client("lambda").get_function(FunctionName="mailflow-dev-handler")["Configuration"]["State"]
        == "Active"
    )


def test_retry_gives_up_and_names_the_call_and_the_last_error() -> None:
    attempts: list[int] = []

    def always_in_use() -> None:
        attempts.append(1)
        raise client_error("ResourceInUseException", "mapping is in use", "UpdateEventSourceMapping")

    sleeps: list[float] = []
    with pytest.raises(WaitFailed) as gave_up:
        RetryPolicy(attempts=4, sleep=sleeps.append).call(
            always_in_use, when=MAPPING_IN_USE, waiting=lambda _what: None
        )
    assert len(attempts) == 4
    assert sleeps == [1, 2, 4]
    assert gave_up.value.call == "lambda UpdateEventSourceMapping"
    assert gave_up.value.reason == (
        "the event source mapping is still changing after 7 s (ResourceInUseException: mapping is in use)"
    )
    assert isinstance(gave_up.value.__cause__, ClientError)


@pytest.mark.parametrize(
    ("budget", "delays"),
    [
        (120, [1, 2, 4, 8, *[10] * 10]),  # 115 s: one more 10 s sleep would pass the budget
        (20, [1, 2, 4, 8]),
        (0.5, []),
    ],
)
def test_the_waits_of_one_call_stay_within_the_budget(budget: float, delays: list[float]) -> None:
    assert RetryPolicy(budget_seconds=budget).delays() == delays
    sleeps: list[float] = []

    def never_assumable() -> None:
        raise client_error(
            "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."
        )

    with pytest.raises(WaitFailed) as gave_up:
        RetryPolicy(budget_seconds=budget, sleep=sleeps.append).call(
            never_assumable, when=ROLE_NOT_ASSUMABLE, waiting=lambda _what: None
        )
    assert sleeps == delays
    assert f"after {sum(delays):g} s" in gave_up.value.reason
    assert "run `mailflow deploy` again in a minute" in gave_up.value.hint


def test_a_waiter_that_runs_out_or_fails_names_the_call() -> None:
    import boto3
    from botocore.stub import Stubber

    lambda_ = boto3.client("lambda", region_name="eu-west-1")
    policy = RetryPolicy(budget_seconds=6, waiter_delay=2, sleep=lambda _s: None)
    assert policy.waiter_config() == {"Delay": 2, "MaxAttempts": 3}
    notes: list[str] = []
    with Stubber(lambda_) as stubbed, mock.patch("botocore.waiter.time.sleep"):
        for _ in range(3):
            stubbed.add_response("get_function", {"Configuration": {"State": "Pending"}})
        with pytest.raises(WaitFailed) as ran_out:
            policy.wait_for(
                lambda_,
                "function_active_v2",
                waiting=notes.append,
                what="the function to become Active",
                gave_up="the function is still not Active",
                FunctionName="f",
            )
        stubbed.add_response("get_function", {"Configuration": {"State": "Failed"}})
        with pytest.raises(WaitFailed) as failed:
            policy.wait_for(
                lambda_,
                "function_active_v2",
                waiting=notes.append,
                what="the function to become Active",
                gave_up="-",
                FunctionName="f",
            )
    assert notes[0] == "the function to become Active (checking every 2 s, at most 6 s)"
    assert (ran_out.value.call, ran_out.value.reason) == (
        "lambda GetFunction",
        "the function is still not Active after 4 s",
    )
    assert failed.value.reason.startswith("the function to become Active ended in a failed state")


def test_other_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def denied() -> None:
        attempts.append(1)
        raise client_error("AccessDeniedException", "no")

    with pytest.raises(ClientError):
        NO_WAIT.call(denied, when=ROLE_NOT_ASSUMABLE, waiting=lambda _what: None)
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
    ("message", "transient"),
    [
        ("The role defined for the function cannot be assumed by Lambda.", ROLE_NOT_ASSUMABLE),
        (
            "The provided execution role does not have permissions to call ReceiveMessage on SQS",
            ROLE_PERMISSIONS_NOT_VISIBLE,
        ),
        (
            "The function execution role does not have permissions to call ReceiveMessage on SQS",
            ROLE_PERMISSIONS_NOT_VISIBLE,
        ),
    ],
)
def test_iam_propagation_delays_are_recognised(message: str, transient: Any) -> None:
    assert transient.matches(client_error("InvalidParameterValueException", message))
    assert not transient.matches(client_error("InvalidParameterValueException", "Runtime is not supported"))
    assert not transient.matches(client_error("AccessDeniedException", message))


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
    assert any(
        detail.startswith("SQS to release the name of a queue deleted less than 60 s ago (retry 1 in 1 s")
        for detail in waiting
    )
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
