"""apps[].senderPrincipals: resolved to IAM unique ids in the handler's runtime config."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from deploy_helpers import ConfigWriter, StackOpener, aws_client
from moto.awslambda.models import lambda_backends

from mailflow_cli.config import parse_config
from mailflow_cli.deploy import deploy_stack, destroy_stack, plan_stack
from mailflow_cli.errors import ConfigError, MailflowError

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def runtime_config_of(function: str) -> dict[str, Any]:
    code = lambda_backends[ACCOUNT][REGION].get_function(function).code_bytes
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        document: dict[str, Any] = json.loads(archive.read("mailflow_config.json"))
    return document


def test_an_apps_principals_become_sender_ids_and_other_apps_get_none(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    role = aws_client("iam").create_role(RoleName="billing-service", AssumeRolePolicyDocument=TRUST)["Role"]
    user = aws_client("iam").create_user(UserName="legacy-mailer")["User"]
    ctx, _ = open_recorded(
        write_config(
            apps=[{"name": "app1", "senderPrincipals": [role["Arn"], user["Arn"]]}, "app2"],
        )
    )
    deploy_stack(ctx)
    apps = runtime_config_of(ctx.names.function)["apps"]
    assert apps["app1"]["senderIds"] == sorted([role["RoleId"], user["UserId"]])
    assert "senderIds" not in apps["app2"]
    again, calls = open_recorded(write_config(apps=[{"name": "app1", "senderPrincipals": [role["Arn"]]}]))
    assert any(change.kind == "lambda-function" for change in plan_stack(again).pending)
    assert ("iam", "GetRole") in calls.calls


def test_no_principals_means_no_iam_lookups(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, calls = open_recorded(write_config())
    plan_stack(ctx)
    assert not [call for call in calls.calls if call[1] in ("GetUser",)]
    assert calls.calls.count(("iam", "GetRole")) == 1  # the handler role's own discovery


def test_a_principal_that_does_not_exist_stops_before_any_change(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/not-there"
    ctx, calls = open_recorded(write_config(apps=[{"name": "app1", "senderPrincipals": [arn]}]))
    with pytest.raises(MailflowError, match=r"apps\[app1\]\.senderPrincipals: .*not-there does not exist"):
        deploy_stack(ctx)
    assert calls.mutating == []


def test_a_principal_of_another_account_is_refused(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    arn = "arn:aws:iam::210987654321:role/billing-service"
    ctx, calls = open_recorded(write_config(apps=[{"name": "app1", "senderPrincipals": [arn]}]))
    with pytest.raises(MailflowError, match="is in account 210987654321"):
        plan_stack(ctx)
    assert calls.mutating == []


def test_a_malformed_principal_is_a_config_error() -> None:
    text = (
        "environment: dev\nregion: eu-west-1\ndomains: [example.com]\n"
        "apps:\n  - name: app1\n    senderPrincipals: [billing-service]\n"
    )
    with pytest.raises(ConfigError) as error:
        parse_config(text, "m.yaml")
    assert any("m.yaml:6" in d and "not an IAM role or user ARN" in d for d in error.value.details)


def test_destroy_does_not_need_the_principals_any_more(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    role = aws_client("iam").create_role(RoleName="billing-service", AssumeRolePolicyDocument=TRUST)["Role"]
    path = write_config(apps=[{"name": "app1", "senderPrincipals": [role["Arn"]]}])
    ctx, _ = open_recorded(path)
    deploy_stack(ctx)
    aws_client("iam").delete_role(RoleName="billing-service")
    later, calls = open_recorded(path)
    report = destroy_stack(later)
    assert f"lambda-function:{later.names.function}" in report.deleted
    assert ("iam", "GetUser") not in calls.calls
