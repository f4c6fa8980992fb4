"""``mailflow local faults set|show|clear``: fault rules for what the emulator's functions do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.options import JsonOption

if TYPE_CHECKING:
    from mailflow_cli.local.faults.control import FaultStatus
    from mailflow_cli.local.faults.endpoint import FaultsClient

faults_app = typer.Typer(
    name="faults",
    help="Make the functions the emulator runs meet AWS errors, Lambda timeouts and crashes (seeded).",
    no_args_is_help=True,
)


def _client() -> FaultsClient:
    """The running emulator's faults (a clear error when none is running)."""
    from mailflow_cli.local.faults.endpoint import FaultsClient
    from mailflow_cli.local.state import running_state

    return FaultsClient(running_state())


@faults_app.command("set")
def set_faults(
    rules: Annotated[
        list[str],
        typer.Argument(
            metavar="RULE...",
            help="SERVICE:Operation=RATE[:ErrorCode] (sqs:SendMessage=0.2:ServiceUnavailable), "
            "lambda:timeout=RATE or lambda:crash=RATE (docs/local.md, Faults).",
            show_default=False,
        ),
    ],
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the random draws: the same seed, the same faults.")
    ] = 0,
    json_output: JsonOption = False,
) -> None:
    """Replace the emulator's fault rules with RULE... (they hit only calls its functions make)."""
    from mailflow_cli.local.faults.control import check_seed, parse_user_rules

    parse_user_rules(rules)  # a malformed rule exits 2 before the emulator is asked
    check_seed(seed)
    status = _client().set(rules, seed)
    _show(status, json_output)
    if not json_output:
        err.print("`mailflow local faults clear` removes them.")


@faults_app.command("show")
def show_faults(json_output: JsonOption = False) -> None:
    """List the fault rules, their seed, and how often each has fired since it was set."""
    _show(_client().status(), json_output)


@faults_app.command("clear")
def clear_faults() -> None:
    """Remove every fault rule."""
    _client().clear()
    err.print("No faults are set.")


def _show(status: FaultStatus, json_output: bool) -> None:
    if json_output:
        print_json(status.to_json())
        return
    if not status.rules:
        err.print("No faults are set.")
        return
    from rich.table import Table

    table = Table("rule", "kind", "injected", title=f"fault rules (seed {status.seed})")
    for rule in status.rules:
        table.add_row(rule.rule, rule.kind, str(rule.injected))
    out.print(table)
    err.print(styled(("Only calls made by the functions the emulator runs are affected.", "dim")))
