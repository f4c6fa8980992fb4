"""The handler role's permissions boundary (security review 8): what bounds the role whatever its inline
policy says, written only by an administrator, first on deploy and last on destroy."""

from __future__ import annotations

import fnmatch
import json
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from deploy_helpers import ConfigWriter, StackOpener, aws_client

from mailflow_cli.context import StackContext
from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.deploy.administrator import AdministratorNeeded

ACCOUNT = "123456789012"
BOUNDARY = "mailflow-dev-handler-boundary"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/mailflow/{BOUNDARY}"
ROLE = "mailflow-dev-handler"


def iam() -> Any:
    return aws_client("iam")


def deny(ctx: StackContext, *operations: str) -> None:
    """Answer these IAM operations with AccessDenied, as AWS does for the deployer of
    docs/permissions.md (its policy leaves them out)."""

    def denied(model: Any, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not for the deployer"}}, model.name)

    events = ctx.clients.client("iam").meta.events
    for operation in operations:
        events.register(f"before-call.iam.{operation}", denied)


def boundary_document() -> dict[str, Any]:
    policy = iam().get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    version = iam().get_policy_version(PolicyArn=BOUNDARY_ARN, VersionId=policy["DefaultVersionId"])
    document: dict[str, Any] = version["PolicyVersion"]["Document"]
    return document


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_role_is_created_with_its_boundary_which_covers_its_whole_policy(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(
        write_config(
            apps=[{"name": "app1", "sendAs": ["billing@example.com"]}],
            outbound={"attachmentSources": ["s3://shared-files/mail/"]},
        )
    )
    deploy_stack(ctx)
    assert recorder.mutating[0] == ("iam", "CreatePolicy"), "the administrative change runs first, alone"
    role = iam().get_role(RoleName=ROLE)["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY_ARN
    policy = iam().get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    assert policy["Path"] == "/mailflow/"
    tags = {t["Key"]: t["Value"] for t in iam().list_policy_tags(PolicyArn=BOUNDARY_ARN)["Tags"]}
    assert tags["mailflow:managed-by"] == "mailflow"
    assert tags["mailflow:component"] == "handler-boundary"
    bounds = [s for s in boundary_document()["Statement"] if s["Effect"] == "Allow"]
    inline = iam().get_role_policy(RoleName=ROLE, PolicyName="mailflow-dev-handler-policy")["PolicyDocument"]
    for statement in inline["Statement"]:
        for action in listed(statement["Action"]):
            for resource in listed(statement["Resource"]):
                assert any(
                    action in listed(bound["Action"])
                    and any(fnmatch.fnmatchcase(resource, pattern) for pattern in listed(bound["Resource"]))
                    for bound in bounds
                ), (action, resource)
    send = next(s for s in bounds if s["Sid"] == "SendFromConfiguredDomains")
    assert send["Condition"] == {"StringLike": {"ses:FromAddress": ["*@example.com"]}}
    sources = next(s for s in bounds if s["Sid"] == "AttachmentSources")
    assert sources["Resource"] == ["arn:aws:s3:::shared-files/mail/*"]


def test_a_deployer_that_may_not_write_the_missing_boundary_stops_before_any_change(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config()
    ctx, recorder = open_recorded(path)
    deny(ctx, "CreatePolicy")
    with pytest.raises(AdministratorNeeded) as stopped:
        deploy_stack(ctx)
    assert recorder.mutating == [("iam", "CreatePolicy")], "only the denied attempt"
    assert BOUNDARY_ARN in stopped.value.message
    assert "does not exist yet" in stopped.value.message
    hint = str(stopped.value.hint)
    assert "mailflow deploy" in hint
    assert "aws iam create-policy --policy-name mailflow-dev-handler-boundary --path /mailflow/" in hint
    assert f'--policy-document "$(mailflow app-policy --boundary --json -c {path})"' in hint
    assert iam().list_roles()["Roles"] == []
    assert aws_client("sqs").list_queues().get("QueueUrls", []) == []


def test_an_outdated_boundary_stops_the_deployer_and_an_administrator_updates_it(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    first, _ = open_recorded(write_config())
    deploy_stack(first)
    grown_path = write_config(domains=["example.com", "example.org"])
    deployer, recorder = open_recorded(grown_path)
    plan = plan_stack(deployer)
    assert [(c.kind, c.action.value) for c in plan.administrative] == [("iam-boundary-policy", "update")]
    assert [c["name"] for c in plan.to_json()["changes"] if c["needsAdministrator"]] == [BOUNDARY]
    deny(deployer, "CreatePolicyVersion", "DeletePolicyVersion")
    with pytest.raises(AdministratorNeeded, match="is outdated") as stopped:
        deploy_stack(deployer)
    assert "aws iam create-policy-version --policy-arn" in str(stopped.value.hint)
    assert recorder.mutating == [("iam", "CreatePolicyVersion")]
    inline = iam().get_role_policy(RoleName=ROLE, PolicyName="mailflow-dev-handler-policy")["PolicyDocument"]
    assert "_*@example.org" not in json.dumps(inline), "the role policy waits for the boundary"
    administrator, _ = open_recorded(grown_path)
    deploy_stack(administrator)
    assert "*@example.org" in json.dumps(boundary_document())
    assert not plan_stack(administrator).has_changes


def test_an_update_with_five_versions_prunes_the_oldest_that_is_not_the_default(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, _ = open_recorded(write_config())
    deploy_stack(ctx)
    current = json.dumps(boundary_document())
    for _ in range(3):  # v2..v4, not the default: v1 stays the default and v2 is the oldest other
        iam().create_policy_version(PolicyArn=BOUNDARY_ARN, PolicyDocument=current, SetAsDefault=False)
    iam().create_policy_version(PolicyArn=BOUNDARY_ARN, PolicyDocument=current, SetAsDefault=True)
    before = iam().list_policy_versions(PolicyArn=BOUNDARY_ARN)["Versions"]
    assert len(before) == 5
    grown, recorder = open_recorded(write_config(domains=["example.com", "example.org"]))
    deploy_stack(grown)
    versions = iam().list_policy_versions(PolicyArn=BOUNDARY_ARN)["Versions"]
    oldest_other = min((v for v in before if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    assert oldest_other["VersionId"] not in [v["VersionId"] for v in versions]
    assert len(versions) == 5
    assert [v["IsDefaultVersion"] for v in versions].count(True) == 1
    newest = max(versions, key=lambda v: (v["CreateDate"], v["VersionId"]))
    assert newest["IsDefaultVersion"]
    assert isinstance(newest["CreateDate"], datetime)
    assert recorder.mutating[:2] == [("iam", "DeletePolicyVersion"), ("iam", "CreatePolicyVersion")]


def test_a_role_without_its_boundary_is_drift_that_only_an_administrator_fixes(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config()
    first, _ = open_recorded(path)
    deploy_stack(first)
    iam().delete_role_permissions_boundary(RoleName=ROLE)
    deployer, recorder = open_recorded(path)
    plan = plan_stack(deployer)
    assert [(c.kind, [d.attribute for d in c.diffs]) for c in plan.administrative] == [
        ("iam-role", ["permissionsBoundary"])
    ]
    deny(deployer, "PutRolePermissionsBoundary")
    with pytest.raises(AdministratorNeeded, match="does not have its permissions boundary") as stopped:
        deploy_stack(deployer)
    assert "aws iam put-role-permissions-boundary --role-name mailflow-dev-handler" in str(stopped.value.hint)
    assert recorder.mutating == [("iam", "PutRolePermissionsBoundary")]
    administrator, _ = open_recorded(path)
    deploy_stack(administrator)
    role = iam().get_role(RoleName=ROLE)["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY_ARN
    assert not plan_stack(administrator).has_changes


def test_destroy_deletes_the_boundary_last_with_its_old_versions(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config())
    deploy_stack(ctx)
    iam().create_policy_version(
        PolicyArn=BOUNDARY_ARN, PolicyDocument=json.dumps(boundary_document()), SetAsDefault=True
    )
    recorder.calls.clear()
    report = destroy_stack(ctx)
    assert report.deleted[-1] == f"iam-boundary-policy:{BOUNDARY}"
    assert recorder.mutating[-1] == ("iam", "DeletePolicy")
    assert iam().list_policies(Scope="Local")["Policies"] == []


def test_a_deployer_that_may_not_delete_the_boundary_leaves_only_it(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config()
    first, _ = open_recorded(path)
    deploy_stack(first)
    deployer, _ = open_recorded(path)
    deny(deployer, "DeletePolicy", "DeletePolicyVersion")
    with pytest.raises(AdministratorNeeded, match="is left after everything else") as stopped:
        destroy_stack(deployer)
    assert "aws iam delete-policy --policy-arn" in str(stopped.value.hint)
    assert iam().list_roles()["Roles"] == []
    assert [p["PolicyName"] for p in iam().list_policies(Scope="Local")["Policies"]] == [BOUNDARY]


def test_a_foreign_policy_of_the_same_name_is_a_conflict_and_left_alone(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    iam().create_policy(
        PolicyName=BOUNDARY,
        Path="/mailflow/",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    ctx, recorder = open_recorded(write_config())
    assert [c.kind for c in plan_stack(ctx).conflicts] == ["iam-boundary-policy"]
    with pytest.raises(Exception, match="ownership tags"):
        deploy_stack(ctx)
    assert recorder.mutating == []
    report = destroy_stack(ctx)
    assert [item.kind for item in report.left_alone] == ["iam-boundary-policy"]
