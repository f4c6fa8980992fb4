"""Where did my email go: trace, replay and doctor.

This module only declares options; the logic and output live in ``mailflow_cli.operate``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailflow_cli.commands.operate import _help, _open
from mailflow_cli.options import ConfigOption, JsonOption, LocalOption, ProfileOption, RegionOption


def trace(
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help="A Message-ID (with or without <>), an SES message id, a correlationId or an email address.",
            show_default=False,
        ),
    ],
    *,
    since: Annotated[str, typer.Option("--since", help="How far back to look: 30m, 24h, 7d.")] = "24h",
    json_output: JsonOption = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    local: LocalOption = False,
) -> None:
    """Where did an email go? The timeline of every email QUERY matches.

    Inbound: received, routed (which apps, +tags, why), delivered (queue, SQS message id, claim check),
    quarantined or dead-lettered (reason). Outbound: requested, sent or refused, and SES's feedback
    events. Read from the handler's logs (CloudWatch Logs Insights, or FilterLogEvents with --local),
    the idempotency table and the raw mail in S3; app queues are never read. Exit 1 when nothing matches.
    """
    from mailflow_cli.operate import trace_command

    if not trace_command.run(
        _open(config, profile, region, local), query, since=since, json_output=json_output
    ):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("trace", help=_help(trace))(trace)
