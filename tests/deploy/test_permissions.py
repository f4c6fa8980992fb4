"""The deployer's policy is generated from the permissions the code declares (issue 10.1); parliament lints
it and the other policies (security review 8 and 12); every call a handler makes while it plans,
deploys, changes and destroys a stack is covered by that handler's own declaration; docs/permissions.md
is the generated policy; nothing that calls AWS can be added without a declaration."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from deploy_helpers import ConfigWriter, aws_client
from parliament import analyze_policy_string

from iam_enforcement import Decision, Request, World, checks, decide
from mailflow_cli.access import Access, Grant, Scope, Scopes, UndeclaredPermissions
from mailflow_cli.aws import AwsClients
from mailflow_cli.config import parse_config
from mailflow_cli.context import open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY, deploy_stack, destroy_stack, plan_stack
from mailflow_cli.deploy.app_policy import app_policy
from mailflow_cli.deploy.handlers.base import ResourceHandler
from mailflow_cli.deploy.handlers.registry import HANDLER_CLASSES
from mailflow_cli.deploy.outputs import permissions as outputs_permissions
from mailflow_cli.deploy.principals import permissions as sender_permissions
from mailflow_cli.deploy.resources.boundary import boundary_policy
from mailflow_cli.deploy.resources.bucket import bucket_policy
from mailflow_cli.deploy.resources.queues import queues
from mailflow_cli.deploy.resources.role import handler_policy
from mailflow_cli.deploy.retry import NO_WAIT
from mailflow_cli.errors import UsageError
from mailflow_cli.naming import SHARED_RULE_SET, stack_names
from mailflow_cli.permissions import (
    COMMANDS,
    GROUPS,
    PLACEHOLDERS,
    TEMPLATE,
    VERSION,
    WITHOUT_AWS,
    deployer_policy,
    render_doc,
    select_commands,
    statements,
)

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mailflow-dev-handler"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mailflow-dev-handler"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/mailflow/mailflow-dev-handler-boundary"
BUCKET = f"arn:aws:s3:::mailflow-dev-{ACCOUNT}-{REGION}"
SENDER_ROLE, SENDER_USER = "billing-service", "legacy-mailer"
PRINCIPALS = [f"arn:aws:iam::{ACCOUNT}:role/{SENDER_ROLE}", f"arn:aws:iam::{ACCOUNT}:user/{SENDER_USER}"]

# parliament flags these for any identity that can deploy a Lambda function and redrive its failures:
# it reads neither permissions boundaries nor conditions (nor does it rule out the handler role).
# test_the_accepted_paths_are_bounded shows what bounds them.
ACCEPTED_ESCALATIONS = {
    "EditExistingLambdaFunctionWithRole",
    "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
    "PassExistingRoleToNewLambdaThenInvoke",
}
# What a deployer is for: it manages permissions (the handler role's policy, the bucket and queue
# policies); and cloudwatch:DescribeAlarms is granted on "*", the only grant that returns composite alarms.
INHERENT = {"PERMISSIONS_MANAGEMENT_ACTIONS"}


def example_config() -> Any:
    text = (REPO / "mailflow.yaml.example").read_text(encoding="utf-8")
    config = parse_config(
        text.replace("attachmentSources: []", "attachmentSources: [s3://shared-files/mail/]")
    )
    return config.model_copy(
        update={
            "apps": tuple(
                app.model_copy(update={"sender_principals": tuple(PRINCIPALS)}) for app in config.apps
            )
        }
    )


def example_scopes() -> Scopes:
    config = example_config()
    return Scopes.of(config, stack_names(config, ACCOUNT))


def findings(document: dict[str, Any]) -> list[tuple[str, Any]]:
    policy = analyze_policy_string(
        json.dumps(document), include_community_auditors=True, ignore_private_auditors=True
    )
    return [(finding.issue, finding.location.get("type") or finding.detail) for finding in policy.findings]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowing(document: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Allow" and action in listed(s["Action"])]


def unexpected(found: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Every finding but the accepted ones (each accepted one only where its reason holds)."""
    return [
        (issue, detail)
        for issue, detail in found
        if not (
            issue in INHERENT
            or (issue == "PRIVILEGE_ESCALATION" and detail in ACCEPTED_ESCALATIONS)
            or (issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION" and f"on {BUCKET} due to" in str(detail))
            or (issue == "RESOURCE_STAR" and detail == ["cloudwatch:DescribeAlarms"])
        )
    ]


# parliament ------------------------------------------------------------------------------------------------
def test_the_generated_policies_have_no_finding_at_all() -> None:
    config = example_config()
    principal = PRINCIPALS[0]
    locked = config.model_copy(
        update={"security": config.security.model_copy(update={"operator_principals": (principal,)})}
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


def test_the_deployer_policy_has_only_the_accepted_findings() -> None:
    found = findings(deployer_policy(example_scopes()))
    assert unexpected(found) == []
    assert {detail for issue, detail in found if issue == "PRIVILEGE_ESCALATION"} == ACCEPTED_ESCALATIONS


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_policy_of_each_command_has_only_the_accepted_findings(command: str) -> None:
    document = deployer_policy(example_scopes(), [command])
    assert unexpected(findings(document)) == []


def test_the_accepted_paths_are_bounded() -> None:
    """The only role the deployer can pass is the handler role, to Lambda only; the only function it can
    create, change or run is the handler; it creates that role and writes its policy only with the
    boundary on it, never takes the boundary off and never writes it."""
    document = deployer_policy(example_scopes())
    [pass_role] = allowing(document, "iam:PassRole")
    assert (listed(pass_role["Resource"]), pass_role["Condition"]) == (
        [ROLE],
        {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    )
    for action in ("lambda:UpdateFunctionCode", "lambda:CreateFunction", "lambda:InvokeFunction"):
        assert [listed(s["Resource"]) for s in allowing(document, action)] == [[FUNCTION]], action
    for action in ("lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping"):
        [statement] = allowing(document, action)
        assert statement["Condition"] == {"ArnLike": {"lambda:FunctionArn": FUNCTION}}
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
    document = deployer_policy(example_scopes())
    [listing] = allowing(document, "lambda:ListEventSourceMappings")
    assert ("Condition" in listing, listed(listing["Resource"])) == (False, ["*"])
    assert [listed(s["Resource"]) for s in allowing(document, "sns:Unsubscribe")] == [["*"]]


# the generated policy and its document ------------------------------------------------------------------
def test_the_policy_is_the_same_whatever_the_order_of_the_commands() -> None:
    scopes = example_scopes()
    forward = deployer_policy(scopes, list(COMMANDS))
    assert forward == deployer_policy(scopes, list(reversed(COMMANDS)))
    assert [s["Sid"] for s in forward["Statement"] if s["Effect"] == "Allow"] == sorted(
        s["Sid"] for s in forward["Statement"] if s["Effect"] == "Allow"
    )
    assert forward["Version"] == VERSION


def test_an_action_already_allowed_on_a_wider_resource_is_not_repeated() -> None:
    """send-test alone sends to the outbound queue; with dlq redrive, every stack queue is allowed."""
    scopes = example_scopes()
    alone = deployer_policy(scopes, ["send-test"])
    both = deployer_policy(scopes, ["send-test", "dlq redrive"])
    assert [s["Sid"] for s in allowing(alone, "sqs:SendMessage")] == ["OutboundQueue"]
    assert [s["Sid"] for s in allowing(both, "sqs:SendMessage")] == ["StackQueues"]


def test_two_statements_of_one_name_are_refused() -> None:
    scopes = example_scopes()
    clash = [
        Grant(("sqs:GetQueueUrl",), scopes.queues),
        Grant(("sqs:GetQueueUrl",), Scope("StackQueues", ("arn:aws:sqs:*:*:other",))),
    ]
    with pytest.raises(ValueError, match="StackQueues"):
        statements(clash)


def test_docs_permissions_md_is_the_generated_policy() -> None:
    committed = (REPO / "docs" / "permissions.md").read_text(encoding="utf-8")
    template = (REPO / TEMPLATE).read_text(encoding="utf-8")
    assert committed == render_doc(template), (
        "docs/permissions.md is out of date with the declared permissions or its template "
        f"({TEMPLATE}); regenerate it: `make docs`, and commit the result"
    )
    found = re.search(r"```json\n(.*?)\n```", committed, re.DOTALL)
    assert found is not None
    assert json.loads(found[1]) == deployer_policy(PLACEHOLDERS)


def test_selecting_commands() -> None:
    assert select_commands(None) == tuple(COMMANDS)
    assert select_commands(" status ,dlq,  dlq   redrive") == ("status", *GROUPS["dlq"])
    assert select_commands("verify-domain --route53") == ("verify-domain --route53",)
    with pytest.raises(UsageError, match="'dlq peek' is not a command that calls AWS"):
        select_commands("deploy,dlq peek")


# nothing that calls AWS goes undeclared -------------------------------------------------------------------
def test_every_handler_declares_its_permissions() -> None:
    undeclared = [cls.__name__ for cls in HANDLER_CLASSES if "permissions" not in cls.__dict__]
    assert undeclared == [], (
        f"these deploy handlers declare no IAM permissions: {undeclared}; give each a `permissions` "
        "classmethod returning Access(read=..., write=...) for the calls it makes (mailflow_cli.access)"
    )
    for cls in HANDLER_CLASSES:
        access = cls.permissions(example_scopes())
        assert isinstance(access, Access), cls.__name__
        assert access.read, cls.__name__


def test_a_handler_without_a_declaration_stops_the_generator_with_its_name() -> None:
    class Undeclared(ResourceHandler[Any]):  # type: ignore[misc]
        pass

    with pytest.raises(UndeclaredPermissions, match="Undeclared declares no IAM permissions") as raised:
        Undeclared.permissions(example_scopes())
    assert "permissions` classmethod" in str(raised.value.hint)


def cli_commands() -> set[str]:
    from mailflow_cli import cli

    cli._register_commands()
    root = typer.main.get_command(cli.app)
    found: set[str] = set()
    for name, command in getattr(root, "commands", {}).items():
        subcommands = getattr(command, "commands", None)
        found |= {f"{name} {sub}" for sub in subcommands} if subcommands is not None else {name}
    return found


def test_every_command_that_calls_aws_declares_its_permissions() -> None:
    commands = cli_commands()
    undeclared = sorted(
        command for command in commands if command not in COMMANDS and command.split()[0] not in WITHOUT_AWS
    )
    assert undeclared == [], (
        f"these commands have no IAM permissions declared: {undeclared}; add each to COMMANDS in "
        "mailflow_cli/permissions.py (composed of `permissions` functions next to the code that makes the "
        "calls), or to WITHOUT_AWS if it makes no AWS call"
    )
    stale = sorted(name for name in COMMANDS if name.removesuffix(" --route53") not in commands)
    assert stale == []


# every call a handler makes is covered by its own declaration -------------------------------------------
def declared_policy(grants: list[Grant]) -> dict[str, Any]:
    """What a declaration allows, administrative grants included, for checking that it covers the calls."""
    return {"Version": VERSION, "Statement": statements(grant for grant in grants if not grant.deny)}


def test_every_call_of_every_handler_is_covered_by_its_own_declaration(
    aws: None, write_config: ConfigWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each handler's calls are made through clients of its own, and decided as IAM would against the
    handler's declaration: discovery (plan) against its reads only, changes against reads and writes.
    The engine's own calls (the senderPrincipals lookup, the outputs) against theirs."""
    trust = json.dumps({"Version": VERSION, "Statement": []})
    aws_client("iam").create_role(RoleName=SENDER_ROLE, AssumeRolePolicyDocument=trust)
    aws_client("iam").create_user(UserName=SENDER_USER)
    apps = [{"name": "app1", "senderPrincipals": PRINCIPALS}]
    first = write_config(
        apps=apps, alarms={"email": "ops@example.com"}, **{"lambda": {"reservedConcurrency": 2}}
    )
    changed = write_config(
        apps=[*apps, "app2"],
        domains=["example.com", "example.org"],
        alarms={"email": "x@example.com"},
        outbound={"attachmentSources": ["s3://shared-files/mail/"]},
    )
    scopes = Scopes.of(open_stack(first).config, stack_names(open_stack(first).config, ACCOUNT))
    phase = {"writes": False}
    decided: list[tuple[str, Request, Decision]] = []

    def checker(who: str, declared: Any) -> Any:
        def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
            request = Request(model.service_model.service_name, model.name, dict(params), ACCOUNT, REGION)
            policy = declared_policy(declared(phase["writes"]))
            decided.extend((who, request, decide([policy], check)) for check in checks(request, World()))

        return hook

    def handler_grants(cls: type[ResourceHandler[Any]]) -> Any:
        return lambda writes: [
            *cls.permissions(scopes).read,
            *(cls.permissions(scopes).write if writes else ()),
        ]

    own_clients: dict[type, AwsClients] = {}

    def client(handler: ResourceHandler[Any], service: str) -> Any:
        cls = type(handler)
        if cls not in own_clients:
            own_clients[cls] = AwsClients(handler.services.clients.target)
            own_clients[cls].event_hooks.append(
                ("provide-client-params.*.*", checker(cls.__name__, handler_grants(cls)))
            )
        return own_clients[cls].client(service)

    monkeypatch.setattr(ResourceHandler, "client", client)
    engine = checker(
        "engine",
        lambda writes: [*sender_permissions(scopes), *(outputs_permissions(scopes) if writes else ())],
    )

    def opened(path: Path) -> Any:
        ctx = open_stack(path)
        ctx.clients.event_hooks.append(("provide-client-params.*.*", engine))
        ctx.extras[RETRY_POLICY_KEY] = NO_WAIT
        return ctx

    for path, writes, step in [
        (first, False, plan_stack),
        (first, True, deploy_stack),
        (first, False, plan_stack),
        (changed, True, deploy_stack),
    ]:
        phase["writes"] = writes
        step(opened(path))
    aws_client("s3").put_object(Bucket=scopes.names.bucket, Key="raw/one", Body=b"mail")
    phase["writes"] = True
    destroy_stack(opened(changed), force=True)

    uncovered = sorted(
        {
            f"{who}: {r.service}:{r.operation} needs {d.check.action} on {d.check.resource} "
            f"{dict(d.check.context) or ''}({d.why})"
            for who, r, d in decided
            if not d.allowed
        }
    )
    assert uncovered == [], "calls that no declaration covers:\n" + "\n".join(uncovered)
    assert {who for who, _, _ in decided} >= {cls.__name__ for cls in HANDLER_CLASSES}
    assert len(decided) > 200


# the command -----------------------------------------------------------------------------------------------
def mailflow(*args: str) -> int:
    from mailflow_cli.cli import run

    try:
        run(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from botocore.client import BaseClient

    calls: list[str] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def test_the_command_prints_the_policy_and_how_to_attach_it_and_asks_aws_nothing_given_the_account(
    write_config: ConfigWriter, capsys: pytest.CaptureFixture[str], aws_calls: list[str]
) -> None:
    path = write_config(apps=[{"name": "app1", "senderPrincipals": PRINCIPALS}])
    assert mailflow("permissions", "-c", str(path), "--account-id", ACCOUNT) == 0
    out = capsys.readouterr().out
    printed, _, attach = out.rpartition("}\n")
    config = open_stack(path).config
    assert json.loads(printed + "}") == deployer_policy(Scopes.of(config, stack_names(config, ACCOUNT)))
    assert attach == (
        "Attach it to the deployer's role as an inline policy: aws iam put-role-policy --role-name "
        "'<the deployer role>' --policy-name mailflow-dev-deployer --policy-document "
        f'"$(mailflow permissions --json -c {path})"\n'
    )
    assert aws_calls == []


def test_the_account_comes_from_sts_and_commands_narrow_the_policy(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str], aws_calls: list[str]
) -> None:
    path = write_config()
    assert mailflow("permissions", "-c", str(path), "--json", "--commands", "status, dlq redrive") == 0
    config = open_stack(path).config
    scopes = Scopes.of(config, stack_names(config, ACCOUNT))
    assert json.loads(capsys.readouterr().out) == deployer_policy(scopes, ["status", "dlq redrive"])
    assert aws_calls == ["GetCallerIdentity"]
    assert mailflow("permissions", "-c", str(path), "--commands", "logs") == 0
    assert "--commands logs -c" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--account-id", "12345"], "--account-id: '12345' is not an AWS account id"),
        (
            ["--commands", "deploy,tracer"],
            "--commands: 'tracer' is not a command that calls AWS (did you mean 'trace'?)",
        ),
    ],
)
def test_wrong_arguments_exit_2_naming_the_argument(
    write_config: ConfigWriter,
    capsys: pytest.CaptureFixture[str],
    aws_calls: list[str],
    arguments: list[str],
    message: str,
) -> None:
    assert mailflow("permissions", "-c", str(write_config()), *arguments) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err
    assert "Traceback" not in err
    assert aws_calls == []


def test_a_policy_larger_than_a_roles_inline_policies_may_be_is_warned_about(
    write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each domain adds its identity and its record names; IAM counts characters without white space."""
    few = write_config(domains=[f"d{i}.example.com" for i in range(3)])
    many = write_config(domains=[f"d{i}.example.com" for i in range(40)])
    assert mailflow("permissions", "-c", str(few), "--account-id", ACCOUNT) == 0
    assert "Warning" not in capsys.readouterr().err
    assert mailflow("permissions", "-c", str(many), "--account-id", ACCOUNT) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "more than IAM allows in a role's inline policies (10240): split it with --commands" in err
