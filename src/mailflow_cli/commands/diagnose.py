"""Where did my email go: trace, replay and doctor.

This module only declares options; the logic and output live in ``mailflow_cli.operate``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailflow_cli.commands.operate import _help
from mailflow_cli.options import (
    DEFAULT_TARGET,
    JsonOption,
    StackTarget,
    YesOption,
    stack_options,
)


@stack_options
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
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Where did an email go? The timeline of every email QUERY matches.

    Inbound: received, routed (which apps, +tags, why), delivered (queue, SQS message id, claim check),
    quarantined or dead-lettered (reason). Outbound: requested, sent or refused, and SES's feedback
    events. Read from the handler's logs (CloudWatch Logs Insights, or FilterLogEvents with --local),
    the idempotency table and the raw mail in S3; app queues are never read. Exit 1 when nothing matches.
    """
    from mailflow_cli.operate import trace_command

    if not trace_command.run(target.open(), query, since=since, json_output=json_output):
        raise typer.Exit(1)


@stack_options
def doctor(
    *,
    no_dns: Annotated[
        bool, typer.Option("--no-dns", help="Skip the DNS checks (MX, SPF, DMARC of each domain).")
    ] = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
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

    if not doctor_command.run(target.open(), no_dns=no_dns, json_output=json_output):
        raise typer.Exit(1)


@stack_options
def replay(
    *,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="Start of the window: a duration ago (2h) or an ISO 8601 time.",
            show_default=False,
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="End of the window (default: now), in the same forms.", show_default=False
        ),
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option("--app", help="Deliver only to this app (or default).", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be delivered where; change nothing.")
    ] = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Run the raw mail stored in the window through the current routing again, e.g. after adding an app.

    Each email's trusted record (the SES record the handler stored when it took it) is routed with the
    handler's own code and the current config. A target that already received an email does not receive it
    again; quarantine decisions stay. Shows what it would deliver where, asks (--yes skips), then invokes the
    handler asynchronously. Emails without a stored record are listed as "cannot replay". Exit 1 when an
    email could not be replayed.
    """
    from mailflow_cli.operate import replay_command

    ctx = target.open()
    replayed = replay_command.run(
        ctx, since=since, until=until, app=app_name, dry_run=dry_run, assume_yes=yes, json_output=json_output
    )
    if not replayed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for name, command in (("trace", trace), ("replay", replay), ("doctor", doctor)):
        app.command(name, help=_help(command))(command)
