"""Destroy removes everything this stack owns, and nothing it does not."""

from __future__ import annotations

import pytest
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.errors import MailflowError
from mailflow_cli.naming import SHARED_RULE_SET

REGION = "eu-west-1"


client = aws_client


def leftovers(prefix: str = "mailflow-dev") -> dict[str, list[str]]:
    """Every resource of the stack that any service still lists."""
    found = {
        "buckets": [
            b["Name"] for b in client("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)
        ],
        "queues": client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", []),
        "functions": [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]],
        "roles": [
            r["RoleName"] for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)
        ],
        "policies": [
            p["PolicyName"]
            for p in client("iam").list_policies(Scope="Local")["Policies"]
            if p["PolicyName"].startswith(prefix)
        ],
        "tables": client("dynamodb").list_tables()["TableNames"],
        "log_groups": [g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]],
        "alarms": [a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]],
        "topics": client("sns").list_topics()["Topics"],
        "mappings": client("lambda").list_event_source_mappings()["EventSourceMappings"],
        "rule_sets": [s["Name"] for s in client("ses").list_receipt_rule_sets().get("RuleSets", [])],
        "configuration_sets": client("sesv2").list_configuration_sets()["ConfigurationSets"],
    }
    return {kind: items for kind, items in found.items() if items}


def test_destroy_leaves_nothing_behind(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config(alarms={"email": "ops@example.com"}))
    deploy_stack(ctx)
    report = destroy_stack(ctx)
    assert leftovers() == {}
    assert "s3-bucket:" + ctx.names.bucket in report.deleted
    assert client("ses").describe_active_receipt_rule_set().get("Metadata") is None
    assert plan_stack(ctx).count(plan_stack(ctx).changes[0].action) == len(plan_stack(ctx).changes)


def test_a_foreign_same_named_queue_blocks_deploy_and_survives_destroy(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    sqs = client("sqs")
    foreign_url = sqs.create_queue(QueueName="mailflow-dev-default", tags={"owner": "someone-else"})[
        "QueueUrl"
    ]
    ctx, recorder = open_recorded(write_config())
    with pytest.raises(MailflowError, match="mailflow-dev-default") as stopped:
        deploy_stack(ctx)
    assert "ownership tags" in stopped.value.message
    assert recorder.mutating == []
    report = destroy_stack(ctx)
    assert [item.name for item in report.left_alone] == ["mailflow-dev-default"]
    assert report.deleted == ()
    assert sqs.list_queue_tags(QueueUrl=foreign_url)["Tags"] == {"owner": "someone-else"}


def test_a_queue_of_another_environment_is_not_ours(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    dev, _ = open_recorded(write_config())
    deploy_stack(dev)
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName="mailflow-dev-default")["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"mailflow:environment": "prod"})
    report = destroy_stack(dev)
    assert "sqs-queue:mailflow-dev-default" not in report.deleted
    assert [item.name for item in report.left_alone] == ["mailflow-dev-default"]
    assert list(leftovers()) == ["queues"]


def test_destroy_refuses_to_drop_mail_unless_forced(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    outputs = deploy_stack(ctx)
    client("sqs").send_message(QueueUrl=outputs.app_queue_urls["app1"], MessageBody="{}")
    s3 = client("s3")
    s3.put_bucket_versioning(
        Bucket=outputs.raw_emails_bucket_name, VersioningConfiguration={"Status": "Enabled"}
    )
    s3.put_object(Bucket=outputs.raw_emails_bucket_name, Key="raw/one", Body=b"mail")
    s3.put_object(Bucket=outputs.raw_emails_bucket_name, Key="raw/one", Body=b"mail again")
    with pytest.raises(MailflowError, match="still hold mail") as stopped:
        destroy_stack(ctx)
    assert any("still holds objects" in detail for detail in stopped.value.details)
    assert any("mailflow-dev-app-app1 still holds 1 message" in detail for detail in stopped.value.details)
    assert leftovers()["functions"] == ["mailflow-dev-handler"]
    destroy_stack(ctx, force=True)
    assert leftovers() == {}


def test_destroy_of_a_stack_never_deployed_deletes_nothing(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config())
    report = destroy_stack(ctx)
    assert report.deleted == ()
    assert recorder.mutating == []
    assert SHARED_RULE_SET not in str(leftovers())


def test_what_hangs_off_a_foreign_function_is_left_alone(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """Event source mappings and permissions cannot be tagged: they follow their function's owner."""
    dev, _ = open_recorded(write_config())
    deploy_stack(dev)
    function_arn = client("lambda").get_function(FunctionName=dev.names.function)["Configuration"][
        "FunctionArn"
    ]
    client("lambda").tag_resource(Resource=function_arn, Tags={"mailflow:environment": "prod"})
    report = destroy_stack(dev)
    left_alone = {item.kind for item in report.left_alone}
    assert left_alone == {"lambda-function", "event-source-mapping", "lambda-permission"}
    assert client("lambda").list_event_source_mappings(FunctionName=dev.names.function)["EventSourceMappings"]
    assert "mailflow-ses-invoke" in client("lambda").get_policy(FunctionName=dev.names.function)["Policy"]


def test_destroy_empties_a_bucket_written_to_after_the_plan(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function runs until its receipt rule is gone: the bucket may fill between plan and delete."""
    from mailflow_cli.deploy.handlers.bucket import BucketHandler

    ctx, _ = open_recorded(write_config())
    outputs = deploy_stack(ctx)
    client("s3").put_object(Bucket=outputs.raw_emails_bucket_name, Key="raw/late", Body=b"mail")
    monkeypatch.setattr(BucketHandler, "_has_objects", lambda self, bucket: False)  # empty when planned
    destroy_stack(ctx)
    assert leftovers() == {}


def test_destroy_empties_again_when_objects_arrive_during_the_delete(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    from unittest import mock

    ctx, recorder = open_recorded(write_config())
    outputs = deploy_stack(ctx)
    bucket = outputs.raw_emails_bucket_name
    s3 = ctx.clients.client("s3")
    real_delete = s3.delete_bucket
    arrivals = iter([b"late mail"])

    def delete_bucket(**kwargs: object) -> object:
        late = next(arrivals, None)
        if late is not None:  # the function writes just before the delete reaches S3
            client("s3").put_object(Bucket=bucket, Key="raw/late", Body=late)
        return real_delete(**kwargs)

    with mock.patch.object(s3, "delete_bucket", side_effect=delete_bucket):
        destroy_stack(ctx)
    assert leftovers() == {}
    assert recorder.calls.count(("s3", "DeleteBucket")) == 2
