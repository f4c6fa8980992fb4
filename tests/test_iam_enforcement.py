"""The tests' IAM evaluation (tests/iam_enforcement.py) decides as AWS documents: resources scoped by
ARN, condition keys with the values the request gives them, explicit Deny first. Each case has its
negative control, so an evaluation that allowed everything (moto's own, for most services) fails here."""

from __future__ import annotations

from typing import Any

import pytest

from iam_enforcement import Check, Request, Unmodelled, World, checks, decide, resources

ACCOUNT, REGION = "123456789012", "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mailflow-dev-handler"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/mailflow/mailflow-dev-handler-boundary"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mailflow-dev-handler"


class FakeWorld(World):
    def __init__(self, boundaries: dict[str, str] | None = None, mappings: dict[str, str] | None = None):
        self.boundaries = boundaries or {}
        self.mappings = mappings or {}

    def role_boundary(self, account: str, name: str) -> str | None:
        return self.boundaries.get(name)

    def role_path(self, account: str, name: str) -> str:
        return "/"

    def mapping_function(self, account: str, region: str, uuid: str) -> str | None:
        return self.mappings.get(uuid)

    def dead_letter_sources(self, account: str, region: str, queue_arn: str) -> list[str]:
        return [queue_arn.replace("-dlq", "-app-app1")]


def request(service: str, operation: str, **params: Any) -> Request:
    return Request(service, operation, params, ACCOUNT, REGION)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str], **condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def allowed(document: dict[str, Any], made: Request, world: World | None = None) -> list[bool]:
    return [decide([document], check).allowed for check in checks(made, world or FakeWorld())]


def test_a_resource_scoped_statement_allows_only_its_resources() -> None:
    """moto checks most services against "*", so an ARN-scoped statement never matches there."""
    document = policy(allow("sqs:CreateQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-*"))
    assert allowed(document, request("sqs", "CreateQueue", QueueName="mailflow-dev-default")) == [True]
    assert allowed(document, request("sqs", "CreateQueue", QueueName="mailflow-prod-default")) == [False]


def test_an_operation_is_authorised_as_its_iam_action_on_the_arn_of_its_parameters() -> None:
    bucket = "mailflow-dev-123456789012-eu-west-1"
    cases = [
        (request("s3", "HeadBucket", Bucket=bucket), "s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        (
            request("s3", "HeadObject", Bucket=bucket, Key="raw/x"),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/raw/x",
        ),
        (
            request("s3", "GetBucketLifecycleConfiguration", Bucket=bucket),
            "s3:GetLifecycleConfiguration",
            f"arn:aws:s3:::{bucket}",
        ),
        (
            request("sqs", "DeleteMessageBatch", QueueUrl="http://h/123456789012/mailflow-dev-default"),
            "sqs:DeleteMessage",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-default",
        ),
        (request("lambda", "Invoke", FunctionName="mailflow-dev-handler"), "lambda:InvokeFunction", FUNCTION),
        (
            request("logs", "FilterLogEvents", logGroupName="/aws/lambda/mailflow-dev-handler"),
            "logs:FilterLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/mailflow-dev-handler",
        ),
        (request("sqs", "ListQueues", QueueNamePrefix="mailflow-dev-"), "sqs:ListQueues", "*"),
        (
            request(
                "sesv2", "SendEmail", FromEmailAddress="Billing <_app1@example.com>", Content={"Raw": {}}
            ),
            "ses:SendRawEmail",
            f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.com",
        ),
    ]
    for made, action, arn in cases:
        assert [(c.action, c.resource) for c in checks(made, FakeWorld())] == [(action, arn)], made


def test_a_listing_by_prefix_is_authorised_against_any_resource_and_named_alarms_each() -> None:
    listing = request("cloudwatch", "DescribeAlarms", AlarmNamePrefix="mailflow-dev-")
    named = request("cloudwatch", "DeleteAlarms", AlarmNames=["mailflow-dev-a", "mailflow-dev-b"])
    assert [c.resource for c in checks(listing, FakeWorld())] == ["*"]
    assert [c.resource for c in checks(named, FakeWorld())] == [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mailflow-dev-a",
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mailflow-dev-b",
    ]


def test_deleting_objects_is_authorised_per_object_and_per_version() -> None:
    made = request(
        "s3",
        "DeleteObjects",
        Bucket="b",
        Delete={"Objects": [{"Key": "raw/1", "VersionId": "v1"}, {"Key": "raw/2"}]},
    )
    assert [(c.action, c.resource) for c in checks(made, FakeWorld())] == [
        ("s3:DeleteObjectVersion", "arn:aws:s3:::b/raw/1"),
        ("s3:DeleteObject", "arn:aws:s3:::b/raw/2"),
    ]


def test_creating_a_role_needs_the_boundary_in_the_request_and_writing_its_policy_the_boundary_on_it() -> (
    None
):
    with_boundary = {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    document = policy(
        allow(["iam:CreateRole", "iam:PutRolePolicy"], ROLE, **with_boundary),
        allow("iam:TagRole", ROLE),
    )
    create = {"RoleName": "mailflow-dev-handler", "AssumeRolePolicyDocument": "{}", "Tags": [{"Key": "k"}]}
    assert allowed(document, request("iam", "CreateRole", **create, PermissionsBoundary=BOUNDARY)) == [
        True,
        True,
    ]
    assert allowed(document, request("iam", "CreateRole", **create)) == [False, True]
    other = BOUNDARY.replace("mailflow-dev", "wide-open")
    assert allowed(document, request("iam", "CreateRole", **create, PermissionsBoundary=other))[0] is False
    put = request(
        "iam", "PutRolePolicy", RoleName="mailflow-dev-handler", PolicyName="p", PolicyDocument="{}"
    )
    assert allowed(document, put, FakeWorld(boundaries={"mailflow-dev-handler": BOUNDARY})) == [True]
    assert allowed(document, put, FakeWorld()) == [False]


def test_creating_a_function_passes_its_role_to_lambda_and_tags_it() -> None:
    document = policy(
        allow(["lambda:CreateFunction", "lambda:TagResource"], FUNCTION),
        allow("iam:PassRole", ROLE, StringEquals={"iam:PassedToService": "lambda.amazonaws.com"}),
    )
    made = request(
        "lambda", "CreateFunction", FunctionName="mailflow-dev-handler", Role=ROLE, Tags={"k": "v"}
    )
    assert [(c.action, c.resource) for c in checks(made, FakeWorld())] == [
        ("lambda:CreateFunction", FUNCTION),
        ("lambda:TagResource", FUNCTION),
        ("iam:PassRole", ROLE),
    ]
    assert allowed(document, made) == [True, True, True]
    other_role = request("lambda", "CreateFunction", FunctionName="mailflow-dev-handler", Role=ROLE + "-x")
    assert allowed(document, other_role) == [True, False]
    to_ec2 = policy(allow("iam:PassRole", ROLE, StringEquals={"iam:PassedToService": "ec2.amazonaws.com"}))
    assert decide([to_ec2], checks(made, FakeWorld())[-1]).allowed is False


def test_mapping_changes_are_about_the_mappings_function_and_its_listing_has_no_such_key() -> None:
    """ListEventSourceMappings supports no condition key: an Allow conditioned on one never matches."""
    for_handler = {"ArnLike": {"lambda:FunctionArn": FUNCTION}}
    mappings = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:*"
    document = policy(
        allow("lambda:CreateEventSourceMapping", "*", **for_handler),
        allow("lambda:DeleteEventSourceMapping", mappings, **for_handler),
        allow("lambda:ListEventSourceMappings", "*", **for_handler),
    )
    world = FakeWorld(mappings={"u1": FUNCTION, "u2": FUNCTION + "-other"})
    assert allowed(
        document, request("lambda", "CreateEventSourceMapping", FunctionName="mailflow-dev-handler")
    ) == [True]
    assert allowed(document, request("lambda", "CreateEventSourceMapping", FunctionName="other")) == [False]
    assert allowed(document, request("lambda", "DeleteEventSourceMapping", UUID="u1"), world) == [True]
    assert allowed(document, request("lambda", "DeleteEventSourceMapping", UUID="u2"), world) == [False]
    assert allowed(document, request("lambda", "ListEventSourceMappings", FunctionName=FUNCTION)) == [False]


def test_route53_changes_are_limited_to_upserts_of_the_domains_records() -> None:
    document = policy(
        allow(
            "route53:ChangeResourceRecordSets",
            "arn:aws:route53:::hostedzone/*",
            **{
                "ForAllValues:StringLike": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["example.com", "*.example.com"]
                },
                "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsActions": "UPSERT"},
            },
        )
    )

    def change(action: str, *names: str) -> Request:
        batch = {
            "Changes": [{"Action": action, "ResourceRecordSet": {"Name": n, "Type": "TXT"}} for n in names]
        }
        return request(
            "route53", "ChangeResourceRecordSets", HostedZoneId="/hostedzone/Z1", ChangeBatch=batch
        )

    assert allowed(document, change("UPSERT", "_amazonses.example.com.", "Example.com")) == [True]
    assert allowed(document, change("UPSERT", "_amazonses.example.com", "www.example.org")) == [False]
    assert allowed(document, change("DELETE", "example.com")) == [False]


def test_an_explicit_deny_wins_over_any_allow() -> None:
    document = policy(
        allow("iam:*", "*"),
        {"Sid": "Never", "Effect": "Deny", "Action": "iam:DeletePolicy", "Resource": BOUNDARY},
    )
    decision = decide([document], Check("iam:DeletePolicy", BOUNDARY))
    assert (decision.allowed, decision.why) == (False, "with an explicit deny (Never)")
    assert decide([document], Check("iam:DeletePolicy", BOUNDARY + "-other")).allowed is True


def test_actions_match_in_any_case_and_resources_exactly() -> None:
    document = policy(allow("SQS:getqueue*", "arn:aws:sqs:*:*:Mailflow-*"))
    assert decide([document], Check("sqs:GetQueueUrl", "arn:aws:sqs:r:1:Mailflow-x")).allowed is True
    assert decide([document], Check("sqs:GetQueueUrl", "arn:aws:sqs:r:1:mailflow-x")).allowed is False


def test_a_move_task_needs_the_dlqs_messages_and_sending_to_their_sources() -> None:
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-apps-dlq"
    made = request("sqs", "StartMessageMoveTask", SourceArn=dlq)
    assert [(c.action, c.resource) for c in checks(made, FakeWorld())] == [
        ("sqs:StartMessageMoveTask", dlq),
        ("sqs:ReceiveMessage", dlq),
        ("sqs:DeleteMessage", dlq),
        ("sqs:GetQueueAttributes", dlq),
        ("sqs:SendMessage", dlq.replace("-dlq", "-app-app1")),
    ]


def test_what_is_not_modelled_fails_instead_of_being_guessed() -> None:
    with pytest.raises(Unmodelled):
        decide(
            [policy(allow("sqs:SendMessage", "*", NumericLessThan={"k": "1"}))],
            Check("sqs:SendMessage", "*", {"k": ("0",)}),
        )
    with pytest.raises(Unmodelled):
        resources("sqs:NoSuchAction", request("sqs", "NoSuchAction"), FakeWorld())
    with pytest.raises(Unmodelled):
        checks(request("sqs", "GetQueueAttributes"), FakeWorld())
    with pytest.raises(Unmodelled):
        decide(
            [policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})], Check("sqs:SendMessage", "*")
        )


def test_the_caller_identity_needs_no_permission() -> None:
    assert checks(request("sts", "GetCallerIdentity"), FakeWorld()) == []
