"""``mailflow permissions``: the least-privilege IAM policy of the deployer, for this stack."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.errors import UsageError
from mailflow_cli.options import (
    DEFAULT_TARGET,
    JsonOption,
    StackTarget,
    stack_options,
)

ACCOUNT_ID = re.compile(r"\d{12}")


@stack_options
def permissions_command(
    *,
    commands: Annotated[
        str | None,
        typer.Option(
            "--commands",
            help="Only what these commands need, comma-separated and named as typed (tail,wait,dlq redrive; "
            "verify-domain --route53; dlq or suppression for the whole group); an unknown name lists them "
            "all. Default: every command that calls AWS.",
            show_default=False,
        ),
    ] = None,
    account_id: Annotated[
        str | None,
        typer.Option(
            "--account-id",
            help="Fill in this AWS account id instead of asking AWS for it (no AWS call at all).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Print the IAM policy a deployer needs for this stack, generated from the calls Mailflow makes.

    Account, region and environment are filled in. Writing the handler role's permissions boundary is
    left to an administrator (docs/permissions.md), and the policy denies it to the deployer.
    """
    from mailflow_cli.access import Scopes
    from mailflow_cli.deploy.administrator import shell_command
    from mailflow_cli.naming import stack_names
    from mailflow_cli.permissions import ROLE_INLINE_LIMIT, deployer_policy, policy_size, select_commands

    if account_id is not None and not ACCOUNT_ID.fullmatch(account_id):
        raise UsageError(f"--account-id: {account_id!r} is not an AWS account id", hint="give its 12 digits")
    chosen = select_commands(commands)
    ctx = target.open()
    names = stack_names(ctx.config, account_id) if account_id is not None else ctx.names
    document = deployer_policy(Scopes.of(ctx.config, names), chosen)
    size = policy_size(document)
    if size > ROLE_INLINE_LIMIT:
        err.print(
            styled(
                ("Warning:", "yellow"),
                f" the policy has {size} characters without white space, more than IAM allows in a role's "
                f"inline policies ({ROLE_INLINE_LIMIT}): split it with --commands into managed policies",
            )
        )
    if json_output:
        print_json(document)
        return
    out.print(json.dumps(document, indent=2))
    selection = "" if commands is None else f" --commands {shell_command([commands])}"
    printed = f'"$(mailflow permissions --json{selection} -c {ctx.config_path})"'
    command = ["aws", "iam", "put-role-policy", "--role-name", "<the deployer role>"]
    command += ["--policy-name", f"{names.prefix}-deployer", "--policy-document", printed]
    out.print(f"Attach it to the deployer's role as an inline policy: {shell_command(command)}")


def register(app: typer.Typer) -> None:
    app.command("permissions")(permissions_command)
