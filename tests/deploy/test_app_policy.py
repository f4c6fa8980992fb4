"""``mailflow app-policy``: the least-privilege policy of an app's own role (contract C1), and the
handler role's boundary for an administrator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deploy_helpers import ConfigWriter

from mailflow_cli.cli import run

ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = f"arn:aws:s3:::mailflow-dev-{ACCOUNT}-{REGION}"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-"


def mailflow(*args: str) -> int:
    try:
        run(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def policy_of(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert mailflow("app-policy", *args, "--json") == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_an_apps_policy_reaches_its_own_queue_and_mail_and_the_outbound_path_only(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    document = policy_of(capsys, "App1", "-c", str(write_config()))
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ConsumeOwnQueue"] == {
        "Sid": "ConsumeOwnQueue",
        "Effect": "Allow",
        "Action": [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        ],
        "Resource": f"{QUEUE}app-app1",
    }
    raw = statements["ReadOwnRawMail"]
    assert (raw["Action"], raw["Resource"]) == ("s3:GetObject", f"{BUCKET}/raw/*")
    assert raw["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/mailflow:app:app1": "1"}}
    assert statements["ReadOwnDerivedObjects"]["Resource"] == [
        f"{BUCKET}/raw-copies/app1/*",
        f"{BUCKET}/attachments/app1/*",
        f"{BUCKET}/claims/app1/*",
    ]
    assert statements["SendOutboundMail"]["Resource"] == f"{QUEUE}outbound"
    assert statements["SendOutboundMail"]["Action"] == "sqs:SendMessage"
    assert statements["UploadOwnAttachments"] == {
        "Sid": "UploadOwnAttachments",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"{BUCKET}/outbound/app1/*",
    }
    assert "app2" not in json.dumps(document)


def test_the_default_queue_consumer_reads_but_does_not_send(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    document = policy_of(capsys, "default", "-c", str(write_config()))
    assert [s["Sid"] for s in document["Statement"]] == [
        "ConsumeOwnQueue",
        "ReadOwnRawMail",
        "ReadOwnDerivedObjects",
    ]
    assert document["Statement"][0]["Resource"] == f"{QUEUE}default"
    assert "mailflow:app:default" in json.dumps(document)


def test_plain_output_is_the_policy_and_how_to_attach_it(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_config())
    assert mailflow("app-policy", "app2", "-c", path) == 0
    printed = capsys.readouterr().out
    document, _, rest = printed.rpartition("}\n")
    assert json.loads(document + "}")["Statement"][0]["Resource"] == f"{QUEUE}app-app2"
    assert rest.count("\n") == 1
    assert rest.startswith("Attach it to the app's own role as an inline policy: aws iam put-role-policy")
    assert f'--policy-document "$(mailflow app-policy app2 --json -c {path})"' in rest


def test_an_app_that_is_not_configured_exits_2_naming_it(
    write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any AWS call (none is reachable here)."""
    assert mailflow("app-policy", "billing", "-c", str(write_config())) == 2
    stderr = capsys.readouterr().err
    assert "the app 'billing' is not configured" in stderr
    assert "app1, app2, or default" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("args", [(), ("app1", "--boundary")])
def test_an_app_or_the_boundary_must_be_named(
    write_config: ConfigWriter, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    assert mailflow("app-policy", *args, "-c", str(write_config())) == 2
    assert "name an app, or pass --boundary" in capsys.readouterr().err


def test_the_boundary_is_printed_for_an_administrator(
    aws: None, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    from mailflow_cli.config import load_config
    from mailflow_cli.deploy.resources.boundary import boundary_policy
    from mailflow_cli.naming import stack_names

    path = write_config()
    config = load_config(path)
    assert policy_of(capsys, "--boundary", "-c", str(path)) == boundary_policy(
        config, stack_names(config, ACCOUNT)
    )
    assert mailflow("app-policy", "--boundary", "-c", str(path)) == 0
    assert "aws iam create-policy-version --policy-arn" in capsys.readouterr().out
