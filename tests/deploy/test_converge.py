"""Re-deploys are no-ops; config changes give the minimal plan; destroy leaves nothing owned behind."""

from __future__ import annotations

import pytest
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import deploy_stack, plan_stack
from mailflow_cli.errors import MailflowError, UsageError

ALARM_TOPIC = "arn:aws:sns:eu-west-1:123456789012:mailflow-dev-alarms"


def test_redeploy_makes_no_mutating_call(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config(alarms={"email": "ops@example.com"}, **{"lambda": {"reservedConcurrency": 5}})
    first, _ = open_recorded(path)
    deploy_stack(first)
    second, recorder = open_recorded(path)
    deploy_stack(second)
    assert recorder.calls, "the second deploy should have read the stack"
    assert recorder.mutating == []
    assert not plan_stack(second).has_changes


def _pending(plan: object) -> set[tuple[str, str, str]]:
    from mailflow_cli.deploy import Plan

    assert isinstance(plan, Plan)
    return {(change.action.value, change.kind, change.name) for change in plan.pending}


def test_adding_an_app_creates_its_queue_and_updates_the_code(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    deploy_stack(ctx)
    grown, _ = open_recorded(write_config(apps=["app1", "app2", "billing"]))
    plan = plan_stack(grown)
    assert _pending(plan) == {
        ("create", "sqs-queue", "mailflow-dev-app-billing"),
        ("update", "lambda-function", "mailflow-dev-handler"),
    }
    function_change = next(c for c in plan.pending if c.kind == "lambda-function")
    assert [diff.attribute for diff in function_change.diffs] == ["codeSha256"]
    deploy_stack(grown)
    assert not plan_stack(grown).has_changes


def test_changing_retention_updates_only_the_bucket_lifecycle_and_the_receipt_ttl(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    deploy_stack(ctx)
    changed, recorder = open_recorded(write_config(storage={"attachmentRetentionDays": 2}))
    plan = plan_stack(changed)
    assert _pending(plan) == {("update", "s3-bucket", f"mailflow-dev-{ctx.names.account_id}-eu-west-1")}
    assert [diff.attribute for diff in plan.pending[0].diffs] == ["lifecycle"]
    deploy_stack(changed)
    assert [operation for _, operation in recorder.mutating] == ["PutBucketLifecycleConfiguration"]
    # The raw mail's retention is also the inbound email record's TTL (runtime config
    # idempotency.receiptTtlSeconds), so it changes the function's code too.
    raw, _ = open_recorded(write_config(storage={"attachmentRetentionDays": 2, "rawRetentionDays": 2}))
    assert _pending(plan_stack(raw)) == {
        ("update", "s3-bucket", f"mailflow-dev-{ctx.names.account_id}-eu-west-1"),
        ("update", "lambda-function", "mailflow-dev-handler"),
    }


def test_removing_an_app_deletes_its_empty_queue_and_its_queue_age_alarm(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config(alarms={"appQueueAge": True}))
    deploy_stack(ctx)
    shrunk, _ = open_recorded(write_config(apps=["app1"], alarms={"appQueueAge": True}))
    plan = plan_stack(shrunk)
    assert _pending(plan) == {
        ("delete", "sqs-queue", "mailflow-dev-app-app2"),
        ("delete", "cloudwatch-alarm", "mailflow-dev-app-app2-oldest-message"),
        ("update", "lambda-function", "mailflow-dev-handler"),
    }
    with pytest.raises(UsageError):
        deploy_stack(shrunk, assume_yes=False)
    deploy_stack(shrunk, assume_yes=False, confirm=lambda _plan: True)
    sqs = aws_client("sqs")
    names = {
        url.rsplit("/", 1)[-1] for url in sqs.list_queues(QueueNamePrefix="mailflow-dev-app-")["QueueUrls"]
    }
    assert names == {"mailflow-dev-app-app1"}
    assert not plan_stack(shrunk).has_changes


def test_removing_an_app_whose_queue_holds_mail_needs_allow_data_loss(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    outputs = deploy_stack(ctx)
    sqs = aws_client("sqs")
    sqs.send_message(QueueUrl=outputs.app_queue_urls["app2"], MessageBody="{}")
    shrunk, recorder = open_recorded(write_config(apps=["app1"]))
    with pytest.raises(MailflowError, match="would lose mail") as stopped:
        deploy_stack(shrunk)
    assert (
        "mailflow-dev-app-app2 is no longer in the config but still holds 1 message"
        in stopped.value.details[0]
    )
    assert recorder.mutating == []
    deploy_stack(shrunk, allow_data_loss=True)
    assert not plan_stack(shrunk).has_changes


def test_ttl_is_enabled_again_when_it_was_disabled(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config()
    ctx, _ = open_recorded(path)
    deploy_stack(ctx)
    dynamodb = aws_client("dynamodb")
    table = "mailflow-dev-idempotency"
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiration"}
    )
    again, recorder = open_recorded(path)
    deploy_stack(again)
    assert [operation for _, operation in recorder.mutating] == ["UpdateTimeToLive"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}


def test_ttl_on_another_attribute_stops_instead_of_making_doomed_calls(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """AWS allows one UpdateTimeToLive per table per hour: disable-then-enable in one run always fails."""
    path = write_config()
    ctx, _ = open_recorded(path)
    deploy_stack(ctx)
    dynamodb = aws_client("dynamodb")
    table = "mailflow-dev-idempotency"
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiration"}
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    again, recorder = open_recorded(path)
    with pytest.raises(MailflowError, match="TTL ENABLED on 'expiresAt'") as stopped:
        deploy_stack(again)
    assert "wait up to an hour" in (stopped.value.hint or "")
    assert ("dynamodb", "UpdateTimeToLive") not in recorder.mutating


def test_ttl_that_is_still_disabling_stops_the_deploy() -> None:
    from mailflow_cli.deploy.handlers.table import TableHandler
    from mailflow_cli.deploy.model import Observed

    handler = TableHandler.__new__(TableHandler)
    observed = Observed(
        {"ttlAttribute": None}, handle={"ttlStatus": "DISABLING", "ttlAttribute": "expiration"}
    )
    resource = type("Spec", (), {"name": "mailflow-dev-idempotency"})()
    with pytest.raises(MailflowError, match="TTL DISABLING"):
        handler._enable_ttl(resource, observed)  # type: ignore[arg-type]


def _listed_subscriptions(subscriptions: list[dict[str, str]]) -> object:
    """Answer ListSubscriptionsByTopic for the alarm topic (other topics are read from moto)."""
    from unittest import mock

    def answer(params: dict[str, object], **_: object) -> tuple[object, dict[str, object]] | None:
        if params.get("TopicArn") != ALARM_TOPIC:
            return None
        return mock.Mock(status_code=200), {"Subscriptions": subscriptions}

    return answer


def test_a_pending_subscription_of_an_old_address_is_not_drift(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """SNS cannot unsubscribe a PendingConfirmation subscription: the plan must not try forever."""
    path = write_config(alarms={"email": "ops@example.com"})
    first, _ = open_recorded(path)
    deploy_stack(first)
    topic = ALARM_TOPIC
    listed = [
        {
            "Endpoint": "ops@example.com",
            "Protocol": "email",
            "SubscriptionArn": f"{topic}:1",
            "TopicArn": topic,
        },
        {"Endpoint": "old@example.com", "Protocol": "email", "SubscriptionArn": "PendingConfirmation"},
    ]
    again, recorder = open_recorded(path)
    sns = again.clients.client("sns")
    sns.meta.events.register("before-call.sns.ListSubscriptionsByTopic", _listed_subscriptions(listed))
    assert not plan_stack(again).has_changes
    deploy_stack(again)
    assert recorder.mutating == []


def test_the_configured_address_still_pending_is_not_subscribed_again(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config(alarms={"email": "ops@example.com"})
    first, _ = open_recorded(path)
    deploy_stack(first)
    listed = [{"Endpoint": "ops@example.com", "Protocol": "email", "SubscriptionArn": "PendingConfirmation"}]
    again, _ = open_recorded(path)
    again.clients.client("sns").meta.events.register(
        "before-call.sns.ListSubscriptionsByTopic", _listed_subscriptions(listed)
    )
    assert not plan_stack(again).has_changes
