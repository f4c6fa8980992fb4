"""docs/permissions.md and the generated policies, linted with parliament (security review 8 and 12), and
checked against every AWS operation that plan, deploy, outputs and destroy make."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from deploy_helpers import ConfigWriter, StackOpener, aws_client
from parliament import analyze_policy_string

from mailflow_cli.config import parse_config
from mailflow_cli.deploy import deploy_stack, destroy_stack, read_outputs
from mailflow_cli.deploy.app_policy import app_policy
from mailflow_cli.deploy.resources.boundary import boundary_policy
from mailflow_cli.deploy.resources.bucket import bucket_policy
from mailflow_cli.deploy.resources.queues import queues
from mailflow_cli.deploy.resources.role import handler_policy
from mailflow_cli.naming import SHARED_RULE_SET, stack_names

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mailflow-dev-handler"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mailflow-dev-handler"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/mailflow/mailflow-dev-handler-boundary"
BUCKET = f"arn:aws:s3:::mailflow-dev-{ACCOUNT}-{REGION}"
SENDER_ROLE, SENDER_USER = "billing-service", "legacy-mailer"

# parliament flags these for any identity that can deploy a Lambda function: it reads neither
# permissions boundaries nor conditions. test_the_accepted_paths_are_bounded shows what bounds them.
ACCEPTED_ESCALATIONS = {
    "EditExistingLambdaFunctionWithRole",
    "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
}
# Warnings about what a deployer is for (it manages permissions, some actions have no resource).
DEPLOYER_WARNINGS = {"PERMISSIONS_MANAGEMENT_ACTIONS", "RESOURCE_STAR"}


def deployer_policy() -> dict[str, Any]:
    """The JSON block of docs/permissions.md, filled in for a sample account."""
    text = (REPO / "docs" / "permissions.md").read_text(encoding="utf-8")
    found = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, "docs/permissions.md has no JSON block"
    filled = found[1].replace("<region>", REGION).replace("<acct>", ACCOUNT).replace("<env>", "dev")
    filled = re.sub(r"<each role[^>]*>", SENDER_ROLE, re.sub(r"<each user[^>]*>", SENDER_USER, filled))
    assert "<" not in filled, "a placeholder is left"
    document: dict[str, Any] = json.loads(filled)
    return document


def example_config() -> Any:
    text = (REPO / "mailflow.yaml.example").read_text(encoding="utf-8")
    return parse_config(text.replace("attachmentSources: []", "attachmentSources: [s3://shared-files/mail/]"))


def findings(document: dict[str, Any]) -> list[tuple[str, Any]]:
    policy = analyze_policy_string(
        json.dumps(document), include_community_auditors=True, ignore_private_auditors=True
    )
    return [(finding.issue, finding.location.get("type") or finding.detail) for finding in policy.findings]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowing(document: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Allow" and action in listed(s["Action"])]


def test_the_generated_policies_have_no_finding_at_all() -> None:
    config = example_config()
    principal = f"arn:aws:iam::{ACCOUNT}:role/{SENDER_ROLE}"
    locked = config.model_copy(
        update={
            "apps": tuple(app.model_copy(update={"sender_principals": (principal,)}) for app in config.apps),
            "security": config.security.model_copy(update={"operator_principals": (principal,)}),
        }
    )
    names = stack_names(config, ACCOUNT)
    documents = [
        ("boundary", boundary_policy(config, names)),
        ("handler role", handler_policy(config, names)),
        ("app1", app_policy(names, "app1")),
        ("default", app_policy(names, "default")),
        ("bucket", bucket_policy(names, SHARED_RULE_SET)),
        *((queue.name, dict(queue.policy or {})) for queue in queues(locked, names)),
    ]
    assert len(documents) == 14
    for name, document in documents:
        assert findings(document) == [], name


def test_the_deployer_policy_has_no_unknown_action_condition_or_resource_and_no_other_escalation() -> None:
    found = findings(deployer_policy())
    escalations = {detail for issue, detail in found if issue == "PRIVILEGE_ESCALATION"}
    assert escalations <= ACCEPTED_ESCALATIONS
    resource_policy = [detail for issue, detail in found if issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION"]
    assert all(f"on {BUCKET} due to" in str(detail) for detail in resource_policy), resource_policy
    others = [
        (issue, detail)
        for issue, detail in found
        if issue not in {"PRIVILEGE_ESCALATION", "RESOURCE_POLICY_PRIVILEGE_ESCALATION", *DEPLOYER_WARNINGS}
    ]
    assert others == []


def test_the_accepted_paths_are_bounded() -> None:
    """The only role the deployer can pass or run code as is the handler role; it can create that role
    and write its policy only with the boundary on it, never take the boundary off, never write it."""
    document = deployer_policy()
    assert [listed(s["Resource"]) for s in allowing(document, "iam:PassRole")] == [[ROLE]]
    for action in ("lambda:UpdateFunctionCode", "lambda:CreateFunction"):
        assert [listed(s["Resource"]) for s in allowing(document, action)] == [[FUNCTION]]
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"):
        [statement] = allowing(document, action)
        assert statement["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    for action in ("iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:CreatePolicyVersion"):
        assert allowing(document, action) == []
    denied = {
        action: listed(s["Resource"])
        for s in document["Statement"]
        if s["Effect"] == "Deny"
        for action in listed(s["Action"])
    }
    assert denied["iam:PutRolePermissionsBoundary"] == denied["iam:DeleteRolePermissionsBoundary"] == ["*"]
    for action in (
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicy",
    ):
        assert denied[action] == [BOUNDARY], action
    [add_permission] = allowing(document, "lambda:AddPermission")
    assert add_permission["Condition"] == {"StringEquals": {"lambda:Principal": "ses.amazonaws.com"}}


def test_the_mapping_reads_carry_no_condition_and_unsubscribe_has_no_resource_arn() -> None:
    """ListEventSourceMappings supports no condition key: with one, its Allow never matches."""
    document = deployer_policy()
    for action in ("lambda:ListEventSourceMappings", "lambda:GetEventSourceMapping"):
        assert [("Condition" in s, listed(s["Resource"])) for s in allowing(document, action)] == [
            (False, ["*"])
        ]
    assert [listed(s["Resource"]) for s in allowing(document, "sns:Unsubscribe")] == [["*"]]


# Operations whose IAM action has another name.
ACTION_OF = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject",
}
IAM_SERVICE = {"sesv2": "ses"}
ADMINISTRATIVE = {
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
    "iam:PutRolePermissionsBoundary",
}


def test_every_operation_of_the_deployer_is_in_the_doc(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    aws_client("iam").create_role(RoleName=SENDER_ROLE, AssumeRolePolicyDocument=trust)
    aws_client("iam").create_user(UserName=SENDER_USER)
    principals = [f"arn:aws:iam::{ACCOUNT}:role/{SENDER_ROLE}", f"arn:aws:iam::{ACCOUNT}:user/{SENDER_USER}"]
    apps = [{"name": "app1", "senderPrincipals": principals}]
    first = write_config(
        apps=apps, alarms={"email": "ops@example.com"}, **{"lambda": {"reservedConcurrency": 2}}
    )
    ctx, recorder = open_recorded(first)
    deploy_stack(ctx)
    changed, changed_calls = open_recorded(
        write_config(
            apps=[*apps, "app2"], domains=["example.com", "example.org"], alarms={"email": "x@example.com"}
        )
    )
    deploy_stack(changed)
    read_outputs(changed)
    aws_client("s3").put_object(Bucket=changed.names.bucket, Key="raw/one", Body=b"mail")
    destroy_stack(changed, force=True)
    # SES v2's operations are IAM actions of the ses service
    made = {
        f"{IAM_SERVICE.get(service, service)}:{operation}"
        for service, operation in [*recorder.calls, *changed_calls.calls]
    }
    needed = {ACTION_OF.get(call, call) for call in made}
    allowed = {
        action
        for s in deployer_policy()["Statement"]
        if s["Effect"] == "Allow"
        for action in listed(s["Action"])
    }
    assert needed >= ADMINISTRATIVE - {"iam:PutRolePermissionsBoundary"}, "boundary writes are covered"
    assert sorted(needed - allowed - ADMINISTRATIVE) == []
    assert stack_names(ctx.config, ACCOUNT).boundary_arn == BOUNDARY
