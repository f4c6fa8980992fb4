"""``mailflow app-policy APP``: the IAM policy an app's own role needs, filled in for this stack; and
``--boundary``: the handler role's permissions boundary, for an administrator to create or update."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mailflow_cli.console import out, print_json
from mailflow_cli.errors import UsageError
from mailflow_cli.options import (
    DEFAULT_TARGET,
    JsonOption,
    StackTarget,
    stack_options,
)


@stack_options
def app_policy_command(
    app: Annotated[
        str | None,
        typer.Argument(
            help="A configured app, or `default` for the default queue's consumer.", show_default=False
        ),
    ] = None,
    *,
    boundary: Annotated[
        bool,
        typer.Option(
            "--boundary",
            help="Print the handler role's permissions boundary instead (an administrator writes it).",
        ),
    ] = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Print the least-privilege IAM policy for an app's own role (account, region, environment filled in)."""
    from mailflow_cli.deploy.administrator import shell_command
    from mailflow_cli.deploy.app_policy import app_policy, app_policy_name, resolve_app
    from mailflow_cli.deploy.resources.boundary import boundary_policy

    if (app is None) == (not boundary):
        raise UsageError(
            "name an app, or pass --boundary (not both)",
            hint="for example: mailflow app-policy app1, or mailflow app-policy --boundary --json",
        )
    ctx = target.open()
    policy_app = resolve_app(ctx.config, app) if app is not None else None
    names = ctx.names
    document = app_policy(names, policy_app) if policy_app is not None else boundary_policy(ctx.config, names)
    if json_output:
        print_json(document)
        return
    out.print(json.dumps(document, indent=2))
    printed = f'"$(mailflow app-policy {policy_app or "--boundary"} --json -c {ctx.config_path})"'
    if policy_app is not None:
        how = "Attach it to the app's own role as an inline policy:"
        command = ["aws", "iam", "put-role-policy", "--role-name", f"<the role of {policy_app}>"]
        command += ["--policy-name", app_policy_name(names, policy_app), "--policy-document", printed]
    else:
        how = "`mailflow deploy` with administrator credentials writes it (docs/permissions.md), or:"
        command = ["aws", "iam", "create-policy-version", "--policy-arn", names.boundary_arn]
        command += ["--set-as-default", "--policy-document", printed]
    out.print(f"{how} {shell_command(command)}")


def register(app: typer.Typer) -> None:
    app.command("app-policy")(app_policy_command)
