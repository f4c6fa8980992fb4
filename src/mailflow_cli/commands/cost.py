"""``mailflow cost``: the monthly cost estimate of a stack's config, from list prices and measured usage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from mailflow_cli.cost import StackShape


def shape_of(config_path: Path | None) -> tuple[str, StackShape]:
    """Load and validate the config; returns its region and the :class:`StackShape` it implies."""
    import os

    from mailflow_cli.config import load_config, resolve_config_path
    from mailflow_cli.cost import StackShape

    config = load_config(resolve_config_path(str(config_path) if config_path else None, os.environ))
    shape = StackShape(
        apps=len(config.apps),
        memory_mb=config.lambda_.memory_mb,
        architecture=config.lambda_.architecture,
        raw_retention_days=config.storage.raw_retention_days,
        attachment_retention_days=config.storage.attachment_retention_days,
        log_retention_days=int(config.lambda_.log_retention_days),
        alarms_enabled=config.alarms.enabled,
    )
    return config.region, shape


def cost(
    emails_per_month: Annotated[
        int,
        typer.Option("--emails-per-month", "-n", min=0, help="Emails received per month (inbound volume)."),
    ],
    outbound_ratio: Annotated[
        float,
        typer.Option("--outbound-ratio", min=0.0, help="Emails sent per email received (apps replying)."),
    ] = 1.0,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Estimate the stack's monthly AWS bill at a given email volume (list prices, no free tier).

    Uses the config's region, app count, Lambda memory and architecture, retention and alarms; the
    per-email calls and CPU are the figures measured by the benchmarks (docs/benchmarks.md).
    """
    from dataclasses import replace

    from mailflow_cli.cost import Workload, estimate, prices_for

    region, shape = shape_of(config)
    prices, exact = prices_for(region)
    result = estimate(emails_per_month, prices, shape, replace(Workload(), outbound_ratio=outbound_ratio))
    result.exact_region_prices = exact
    if not exact:
        result.assumptions.insert(0, f"no price table for {region}: us-east-1 prices used")
    if json_output:
        print_json(result.as_dict())
        return
    from rich.table import Table

    table = Table(title=f"Monthly cost at {emails_per_month:,} emails received ({prices.region} prices)")
    table.add_column("Service")
    table.add_column("Usage")
    table.add_column("USD / month", justify="right")
    for line in result.lines:
        table.add_row(line.service, line.usage, f"{line.usd:,.2f}")
    table.add_row(styled(("Total", "bold")), "", styled((f"{result.total:,.2f}", "bold")))
    out.print(table)
    for assumption in result.assumptions:
        err.print(styled(("Assumes:", "dim"), f" {assumption}"))


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
