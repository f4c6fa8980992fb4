"""``mailflow cost``: the monthly cost estimate of a stack's config, from list prices and measured usage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from mailflow_cli.config import MailflowConfig
    from mailflow_cli.cost import StackShape

PLACEHOLDER_ACCOUNT = "000000000000"
"""Alarm names hold the account id; how many metrics the alarms read does not depend on it."""


def shape_for(config: MailflowConfig) -> StackShape:
    """What ``config`` deploys, as far as the bill is concerned: the alarm metrics are counted from the
    alarms the deploy engine would create for it."""
    from mailflow_cli.cost import HANDLER_EMF_METRICS, StackShape
    from mailflow_cli.deploy.resources.alarms import alarms
    from mailflow_cli.naming import stack_names

    deployed = alarms(config, stack_names(config, PLACEHOLDER_ACCOUNT), None)
    return StackShape(
        apps=len(config.apps),
        memory_mb=config.lambda_.memory_mb,
        architecture=config.lambda_.architecture,
        raw_retention_days=config.storage.raw_retention_days,
        attachment_retention_days=config.storage.attachment_retention_days,
        log_retention_days=int(config.lambda_.log_retention_days),
        alarm_metrics=sum(alarm.metric_count for alarm in deployed),
        custom_metrics=HANDLER_EMF_METRICS if config.observability.metrics else 0,
        send_events=config.outbound.feedback.send_events,
    )


def with_every_option(config: MailflowConfig) -> MailflowConfig:
    """``config`` with every optional alarm and metric on (per-app queue-age alarms, EMF metrics)."""
    return config.model_copy(
        update={
            "alarms": config.alarms.model_copy(update={"app_queue_age": True}),
            "observability": config.observability.model_copy(update={"metrics": True}),
        }
    )


def load(config_path: Path | None) -> MailflowConfig:
    import os

    from mailflow_cli.config import load_config, resolve_config_path

    return load_config(resolve_config_path(str(config_path) if config_path else None, os.environ))


def shape_of(config_path: Path | None) -> tuple[str, StackShape]:
    """Load and validate the config; returns its region and the :class:`StackShape` it implies."""
    config = load(config_path)
    return config.region, shape_for(config)


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

    Uses the config's region, app count, Lambda memory and architecture, retention, alarms and metrics;
    the per-email calls and CPU are the figures measured by the benchmarks (docs/benchmarks.md). A second
    column shows the bill with every optional alarm and metric on (alarms.appQueueAge,
    observability.metrics).
    """
    from dataclasses import replace

    from mailflow_cli.cost import Workload, estimate, prices_for

    loaded = load(config)
    prices, exact = prices_for(loaded.region)
    work = replace(Workload(), outbound_ratio=outbound_ratio)
    result = estimate(emails_per_month, prices, shape_for(loaded), work)
    everything = estimate(emails_per_month, prices, shape_for(with_every_option(loaded)), work)
    result.exact_region_prices = exact
    if not exact:
        result.assumptions.insert(0, f"no price table for {loaded.region}: us-east-1 prices used")
    if json_output:
        print_json(
            {
                **result.as_dict(),
                "withEveryOption": {
                    "totalUsd": round(everything.total, 4),
                    "byService": {k: round(v, 4) for k, v in everything.by_service().items()},
                },
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"Monthly cost at {emails_per_month:,} emails received ({prices.region} prices)")
    table.add_column("Service")
    table.add_column("Usage")
    table.add_column("USD / month", justify="right")
    table.add_column("all options on", justify="right", style="dim")
    options = everything.by_service()
    for line in result.lines:
        table.add_row(line.service, line.usage, f"{line.usd:,.2f}", f"{options[line.service]:,.2f}")
    table.add_row(
        styled(("Total", "bold")),
        "",
        styled((f"{result.total:,.2f}", "bold")),
        f"{everything.total:,.2f}",
    )
    out.print(table)
    for assumption in result.assumptions:
        err.print(styled(("Assumes:", "dim"), f" {assumption}"))


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
