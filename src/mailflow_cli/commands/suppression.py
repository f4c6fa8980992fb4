"""``mailflow suppression list|add|remove|check``: the account-level SES suppression list.

This module declares the commands and prints; the calls are in ``mailflow_cli.operate.suppression``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.options import (
    DEFAULT_TARGET,
    JsonOption,
    StackTarget,
    YesOption,
    stack_options,
)

suppression_app = typer.Typer(
    help="The account-level SES suppression list: addresses SES no longer sends to (hard bounces, "
    "complaints) in this account and region.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
AddressesArgument = Annotated[
    list[str], typer.Argument(metavar="ADDRESS", help="One or more e-mail addresses.", show_default=False)
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="BOUNCE or COMPLAINT.", show_default=False, case_sensitive=False),
]


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@stack_options
def list_addresses(
    *,
    reason: ReasonOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only entries added or updated since then: 1h, 7d, ...", show_default=False
        ),
    ] = None,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Every suppressed address (all pages of the list), with why and since when."""
    from rich.table import Table

    from mailflow_cli.operate import suppression
    from mailflow_cli.operate.durations import parse_duration
    from mailflow_cli.operate.render import terminal_text
    from mailflow_cli.operate.timing import current_clock

    chosen = suppression.reason(reason)
    start = None
    if since is not None:
        start = datetime.fromtimestamp(current_clock().now(), tz=UTC) - timedelta(
            seconds=parse_duration(since, option="--since")
        )
    ctx = target.open()
    entries = list(
        suppression.listed(ctx.clients.client("sesv2"), reasons=[chosen] if chosen else (), since=start)
    )
    if json_output:
        print_json([entry.as_dict() for entry in entries])
        return
    if not entries:
        filters = [f"reason {chosen}"] if chosen else []
        filters += [f"changed since {_when(start)}"] if start else []
        matching = f" matching {' and '.join(filters)}" if filters else ""
        err.print(f"The suppression list in {ctx.config.region} has no address{matching}.")
        return
    table = Table(title=f"Suppressed addresses (account-level, {ctx.config.region})", title_justify="left")
    for column in ("Address", "Reason", "Since"):
        table.add_column(column)
    for entry in entries:
        table.add_row(terminal_text(entry.address), entry.reason, _when(entry.last_update))
    out.print(table)
    err.print(f"{len(entries)} address(es).")


@stack_options
def add(
    address: AddressesArgument,
    *,
    reason: Annotated[
        str, typer.Option("--reason", help="BOUNCE or COMPLAINT (required).", show_default=False)
    ],
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Put addresses on the list: SES then accepts mail to them and publishes a Bounce event instead."""
    from mailflow_cli.operate import suppression

    why = suppression.reason(reason)
    assert why is not None
    wanted = suppression.addresses(address)
    ctx = target.open()
    sesv2 = ctx.clients.client("sesv2")
    for one in wanted:
        suppression.add(sesv2, one, why)
        if not json_output:
            out.print(
                f"Suppressed {one} ({why}): SES will not send to it from this account in {ctx.config.region}."
            )
    if json_output:
        print_json({"added": wanted, "reason": why})


@stack_options
def remove(
    address: AddressesArgument,
    *,
    yes: YesOption = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Take addresses off the list, after confirmation (--yes without a terminal). Exit 1 when one was
    not on it."""
    from mailflow_cli.errors import UsageError
    from mailflow_cli.operate import suppression

    wanted = suppression.addresses(address)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"taking {len(wanted)} address(es) off the suppression list needs confirmation: SES sends "
                "to them again, and a new hard bounce or complaint counts against the account's reputation",
                hint="run it in a terminal, or pass --yes",
            )
        if not typer.confirm(
            f"Take {', '.join(wanted)} off the suppression list (SES sends to them again)?",
            default=False,
            err=True,
        ):
            raise UsageError("nothing was removed")
    ctx = target.open()
    sesv2 = ctx.clients.client("sesv2")
    removed: list[str] = []
    absent: list[str] = []
    for one in wanted:
        (removed if suppression.remove(sesv2, one) else absent).append(one)
    if json_output:
        print_json({"removed": removed, "notListed": absent})
    else:
        for one in removed:
            out.print(f"Removed {one}: SES sends to it again.")
        for one in absent:
            err.print(
                styled((f"{one} was not on the suppression list", "yellow"), f" in {ctx.config.region}.")
            )
    if absent:
        raise typer.Exit(1)


@stack_options
def check(
    address: AddressesArgument,
    *,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Whether SES suppresses the addresses: exit 0 when every one is suppressed, 1 when one is not."""
    from mailflow_cli.operate import suppression

    wanted = suppression.addresses(address)
    ctx = target.open()
    sesv2 = ctx.clients.client("sesv2")
    found = {one: suppression.check(sesv2, one) for one in wanted}
    if json_output:
        documents: list[dict[str, Any]] = [
            {"address": one, "suppressed": False}
            if entry is None
            else {**entry.as_dict(), "suppressed": True}
            for one, entry in found.items()
        ]
        print_json(documents)
    else:
        for one, entry in found.items():
            if entry is None:
                out.print(styled((one, "bold"), ": not suppressed"))
            else:
                since = f", since {_when(entry.last_update)}" if entry.last_update else ""
                out.print(styled((one, "bold"), ": ", ("suppressed", "red"), f" ({entry.reason}{since})"))
    if any(entry is None for entry in found.values()):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from mailflow_cli.commands.operate import _help

    commands = (("list", list_addresses), ("add", add), ("remove", remove), ("check", check))
    for name, command in commands:
        suppression_app.command(name, help=_help(command))(command)
    app.add_typer(suppression_app, name="suppression")
