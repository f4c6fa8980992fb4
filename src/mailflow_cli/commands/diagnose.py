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


def doctor(
    *,
    no_dns: Annotated[
        bool, typer.Option("--no-dns", help="Skip the DNS checks (MX, SPF, DMARC of each domain).")
    ] = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    local: LocalOption = False,
) -> None:
    """Why does no mail arrive? Every check, each ok, warn or fail with one line of detail and one of fix.

    Credentials and account; the region receives mail; the receipt rule set is active and ours, our rule
    enabled, its TLS policy; each domain verified for sending, DKIM, MAIL FROM; the SES sandbox, paused
    sending, quota used; each domain's MX points at this region's SES inbound endpoint, SPF and DMARC
    records (real DNS, 2 s timeouts; --no-dns to skip; skipped with --local); handler errors and throttles
    in the last hour; DLQ depths; alarms in ALARM; the oldest message of each app queue. Exit 1 if any
    check fails.
    """
    from mailflow_cli.operate import doctor_command

    if not doctor_command.run(_open(config, profile, region, local), no_dns=no_dns, json_output=json_output):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for name, command in (("trace", trace), ("doctor", doctor)):
        app.command(name, help=_help(command))(command)
