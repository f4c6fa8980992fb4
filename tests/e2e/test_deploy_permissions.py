"""The policy `mailflow permissions` prints is what the deployer needs, against IAM enforced (issue 10.1).

A moto server in this process runs with IAM enforcement on (``INITIAL_NO_AUTH_ACTION_COUNT``), and every
request is decided as AWS documents it (tests/iam_enforcement.py: the request's resource ARNs and
condition keys, which moto alone does not evaluate). Before enforcement, the account's root creates an
administrator (every permission), the deployer's role, two senderPrincipals and the domain's hosted zone.
The administrator then gives the role exactly the generated policy, and creates the permissions
boundary as docs/permissions.md tells. The real CLI runs the lifecycle with the role's session: every
call is allowed but the boundary's deletion, which the policy denies and the administrator then makes.
Without one action of the policy, the same run stops with AccessDenied naming that action.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from command_runs import DAY_TWO, hosted_zone, seed
from iam_enforcement import EnforcementLog, enforcement_on, iam_enforced
from mailflow_cli.deploy.resources.boundary import BOUNDARY_COMPONENT
from mailflow_cli.local.moto_patches import install_moto_compat
from mailflow_cli.naming import (
    MANAGED_BY_VALUE,
    TAG_COMPONENT,
    TAG_ENVIRONMENT,
    TAG_MANAGED_BY,
    StackNames,
)
from mailflow_cli.operate import timing

pytestmark = pytest.mark.e2e

ACCOUNT, REGION, ENVIRONMENT = "123456789012", "eu-west-1", "perm"
NAMES = StackNames(environment=ENVIRONMENT, region=REGION, account_id=ACCOUNT)
DEPLOYER = "deployer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER}/ci"
PRINCIPALS = [f"arn:aws:iam::{ACCOUNT}:role/billing-service", f"arn:aws:iam::{ACCOUNT}:user/legacy-mailer"]
ROOT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
Credentials = dict[str, str]


def config(*apps: str) -> str:
    listed = "".join(f"  - {app}\n" for app in apps)
    return (
        f"environment: {ENVIRONMENT}\nregion: {REGION}\ndomains: [example.com]\n"
        f"alarms: {{email: ops@example.com}}\n"
        f"apps:\n  - name: app1\n    senderPrincipals: [{', '.join(PRINCIPALS)}]\n{listed}"
    )


@dataclass
class Account:
    """The moto account: clients and the CLI as a given identity, and every IAM decision made."""

    endpoint: str
    log: EnforcementLog
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def client(self, service: str, who: Credentials) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=who["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=who["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=who.get("AWS_SESSION_TOKEN"),
        )

    def run(self, who: Credentials, *argv: str) -> tuple[int, str, str]:
        """The CLI in this process, as ``who``: exit code, stdout, stderr (its lines joined)."""
        from mailflow_cli import cli

        for name, value in {**ROOT, "AWS_SESSION_TOKEN": "", **who}.items():
            if value:
                self.monkeypatch.setenv(name, value)
            else:
                self.monkeypatch.delenv(name, raising=False)
        self.capsys.readouterr()
        try:
            cli.run(list(argv))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, " ".join(captured.err.split())


@pytest.fixture
def account(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[Account]:
    from moto.core.base_backend import BackendDict
    from moto.core.models import reset_model_data
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    BackendDict.reset()  # the server uses this process's backends, which an earlier test may have filled
    undo = install_moto_compat()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.chdir(tmp_path)
    timing.use_clock(timing.FakeClock().as_clock())  # no receive waits for an empty queue
    log = EnforcementLog()
    try:
        with iam_enforced(log):
            yield Account(f"http://{host}:{port}", log, monkeypatch, capsys)
    finally:
        timing.use_clock(timing.SYSTEM_CLOCK)
        server.stop()
        undo()
        BackendDict.reset()
        reset_model_data()


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


EVERYTHING = document({"Effect": "Allow", "Action": "*", "Resource": "*"})
TRUST_THE_ACCOUNT = document(
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
)


def prepare(
    account: Account, *, policy_change: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> tuple[Credentials, Credentials]:
    """Root (before enforcement) creates the administrator, the deployer's role, the senderPrincipals and
    the hosted zone; then, enforced, the administrator gives the role the generated policy (changed by
    ``policy_change``) and creates the boundary. The administrator's and the deployer's credentials."""
    Path("mailflow.yaml").write_text(config(), encoding="utf-8")
    root = account.client("iam", ROOT)
    root.create_user(UserName="admin")
    root.put_user_policy(UserName="admin", PolicyName="everything", PolicyDocument=EVERYTHING)
    key = root.create_access_key(UserName="admin")["AccessKey"]
    admin = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    root.create_role(RoleName="billing-service", AssumeRolePolicyDocument=TRUST_THE_ACCOUNT)
    root.create_user(UserName="legacy-mailer")
    root.create_role(RoleName=DEPLOYER, AssumeRolePolicyDocument=TRUST_THE_ACCOUNT)
    hosted_zone(lambda service: account.client(service, ROOT))
    with enforcement_on():
        code, printed, _ = account.run(admin, "permissions", "--json")
        assert code == 0
        policy = json.loads(printed)
        iam = account.client("iam", admin)
        iam.put_role_policy(
            RoleName=DEPLOYER,
            PolicyName=f"{NAMES.prefix}-deployer",
            PolicyDocument=json.dumps(policy_change(policy) if policy_change else policy),
        )
        code, boundary, _ = account.run(admin, "app-policy", "--boundary", "--json")
        assert code == 0
        tags = {
            TAG_MANAGED_BY: MANAGED_BY_VALUE,
            TAG_ENVIRONMENT: ENVIRONMENT,
            TAG_COMPONENT: BOUNDARY_COMPONENT,
        }
        iam.create_policy(
            PolicyName=NAMES.boundary_policy,
            Path="/mailflow/",
            PolicyDocument=boundary,
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )
        role = f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER}"
        session = account.client("sts", admin).assume_role(RoleArn=role, RoleSessionName="ci")["Credentials"]
    return admin, {
        "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
        "AWS_SESSION_TOKEN": session["SessionToken"],
    }


# status: the DLQ entries seeded for dlq, and a domain not yet verified; destroy: the boundary is left to
# an administrator.
EXPECTED_EXIT = {("status",): 1, ("trace", "someone@example.net"): 1}  # no email about that address


def test_the_deployer_runs_the_whole_lifecycle_with_exactly_the_generated_policy(account: Account) -> None:
    admin, deployer = prepare(account)
    exits: dict[tuple[str, ...], int] = {}

    def as_deployer(*argv: str) -> str:
        code, _, err = account.run(deployer, *argv)
        exits[argv] = code
        assert "Traceback" not in err
        return err

    with enforcement_on():
        as_deployer("deploy", "--yes")
        assert "No changes" in as_deployer("deploy", "--yes")
        Path("mailflow.yaml").write_text(config("app2"), encoding="utf-8")
        as_deployer("deploy", "--yes")
        seed(lambda service: account.client(service, admin), NAMES)
        for _, argv in DAY_TWO:
            as_deployer(*argv)
        Path("mailflow.yaml").write_text(config(), encoding="utf-8")
        as_deployer("deploy", "--yes")
        left = as_deployer("destroy", "--yes", "--force")
        code, _, _ = account.run(admin, "destroy", "--yes", "--force")

    expected = {argv: EXPECTED_EXIT.get(argv, 0) for argv in exits}
    assert exits == {**expected, ("destroy", "--yes", "--force"): 1}
    assert f"the permissions boundary {NAMES.boundary_arn}" in left
    assert "only an administrator may change it" in left
    assert code == 0
    mine = account.log.of(SESSION)
    assert EnforcementLog.denied(mine) == [
        f"iam:DeletePolicy needs iam:DeletePolicy on {NAMES.boundary_arn} : denied with an explicit deny "
        "(NeverWriteTheBoundary)"
    ]
    made = {entry.decision.check.action for entry in mine}
    assert made >= {
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:PassRole",
        "iam:GetRole",
        "iam:GetUser",
        "lambda:CreateFunction",
        "lambda:AddPermission",
        "lambda:CreateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
        "s3:PutBucketPolicy",
        "s3:DeleteObjectVersion",
        "sqs:DeleteQueue",
        "sqs:StartMessageMoveTask",
        "sqs:PurgeQueue",
        "lambda:InvokeFunction",
        "dynamodb:GetItem",
        "route53:ChangeResourceRecordSets",
        "ses:SendRawEmail",
        "logs:FilterLogEvents",
    }
    assert len(mine) > 300
    iam = account.client("iam", admin)
    assert iam.list_policies(Scope="Local", PathPrefix="/mailflow/")["Policies"] == []
    assert account.client("s3", admin).list_buckets()["Buckets"] == []


def without(action: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The policy without ``action`` (a statement left with no action goes too)."""

    def change(document: dict[str, Any]) -> dict[str, Any]:
        statements = []
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            kept = [other for other in actions if other != action]
            if kept:
                statements.append({**statement, "Action": kept})
        return {**document, "Statement": statements}

    return change


@pytest.mark.parametrize(
    ("action", "operation"),
    [
        ("iam:PassRole", "CreateFunction"),
        ("s3:PutBucketPolicy", "PutBucketPolicy"),
        ("lambda:AddPermission", "AddPermission"),
    ],
)
def test_without_one_action_the_deploy_stops_with_access_denied_naming_it(
    account: Account, action: str, operation: str
) -> None:
    """The control: enforcement is real, and so are an implied authorisation (PassRole, for the role
    CreateFunction passes), an S3 one and a conditioned one."""
    _, deployer = prepare(account, policy_change=without(action))
    with enforcement_on():
        code, _, err = account.run(deployer, "deploy", "--yes")
    assert code == 1
    assert (
        f"access denied for {operation} (User: {SESSION} is not authorized to perform: {action} on resource"
        in err
    )
    assert "`mailflow permissions` prints the policy Mailflow needs" in err
    [denied] = {
        entry.decision.check.action for entry in account.log.of(SESSION) if not entry.decision.allowed
    }
    assert denied == action
