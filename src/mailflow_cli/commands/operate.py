"""Day-two commands: verify-domain, send-test, tail, wait, status, logs, dlq and init.

This module only declares options and prints; the logic lives in ``mailflow_cli.operate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from mailflow_cli.console import err, styled
from mailflow_cli.options import (
    DEFAULT_TARGET,
    JsonOption,
    StackTarget,
    YesOption,
    stack_options,
)

TimeoutOption = Annotated[
    str, typer.Option("--timeout", help="How long --wait waits: 10s, 30m, 2h, 1d.", show_default=True)
]


def _warn(message: str) -> None:
    err.print(styled(("Warning:", "yellow"), f" {message}"))


# verify-domain ------------------------------------------------------------------------------------------
@stack_options
def verify_domain(
    domain: Annotated[str, typer.Argument(help="The domain to verify, for example example.com.")],
    *,
    route53: Annotated[
        bool, typer.Option("--route53", help="UPSERT the records into the domain's Route 53 hosted zone.")
    ] = False,
    replace_mx: Annotated[
        bool, typer.Option("--replace-mx", help="With --route53: replace an MX record that points elsewhere.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until SES reports verification and DKIM as Success.")
    ] = False,
    timeout: TimeoutOption = "30m",
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Start SES verification and Easy DKIM for DOMAIN and print the DNS records to add.

    Re-running is safe: SES returns the existing tokens. Exit 1 when --wait times out or SES reports
    Failed.
    """
    from mailflow_cli.operate import verify_domain_command

    ctx = target.open()
    verify_domain_command.run(
        ctx,
        domain,
        route53=route53,
        replace_mx=replace_mx,
        wait=wait,
        timeout=timeout,
        json_output=json_output,
    )


# tail -----------------------------------------------------------------------------------------------------
@stack_options
def tail(
    queue: Annotated[
        str,
        typer.Argument(
            help="An app, or default, outbound, ses-events, dlq (the apps DLQ), dlq:apps, dlq:outbound, "
            "dlq:inbound, dlq:events.",
            show_default=False,
        ),
    ],
    *,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new messages.")] = False,
    limit: Annotated[
        int | None, typer.Option("-n", "--limit", min=1, help="Stop after N messages.", show_default=False)
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Consume the messages shown (default: return them to the queue).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON document per message (JSON lines).")
    ] = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Show a queue's messages as they arrive, without taking them from the app.

    Messages are held while the command runs and returned to the queue when it ends (Ctrl-C with
    --follow); each peek counts as one receive towards maxReceiveCount. Without --follow it stops when
    the queue is drained.
    """
    from mailflow_cli.operate import tail_command

    ctx = target.open()
    tail_command.run(ctx, queue, follow=follow, limit=limit, delete=delete, json_output=json_output)


# wait -----------------------------------------------------------------------------------------------------
@stack_options
def wait(
    queue: Annotated[
        str,
        typer.Argument(
            help="An app, or default, outbound, dlq (the apps DLQ), dlq:apps, dlq:outbound, dlq:inbound.",
            show_default=False,
        ),
    ],
    *,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject", help="The email's subject contains TEXT.", metavar="TEXT", show_default=False
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from", help="The envelope sender or From address is ADDR.", metavar="ADDR", show_default=False
        ),
    ] = None,
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            help="JSONPATH=VALUE on the message's JSON, e.g. $.email.to[0].address=a@example.com "
            "(repeatable).",
            metavar="JSONPATH=VALUE",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long to wait: 10s, 5m, 2h.", show_default=True)
    ] = "30s",
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete the matching message (no other is ever consumed).")
    ] = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Wait until a message matching every filter is on QUEUE, print it, exit 0 (exit 1 on timeout).

    For end-to-end tests. Other messages are held while waiting and returned to the queue when it ends,
    never consumed; each wait counts as one receive towards maxReceiveCount. --match takes $ then .name
    or [N] steps; a string is compared as text, anything else as JSON ($.attempt=2, $.retry=false).
    """
    from mailflow_cli.operate import wait_command

    ctx = target.open()
    wait_command.run(
        ctx,
        queue,
        subject=subject,
        sender=sender,
        matches=match or [],
        timeout=timeout,
        delete=delete,
        json_output=json_output,
    )


# send-test ------------------------------------------------------------------------------------------------
@stack_options
def send_test(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app to test.", show_default=False)],
    *,
    outbound: Annotated[
        bool, typer.Option("--outbound", help="Test sending: put a message from APP on the outbound queue.")
    ] = False,
    to: Annotated[
        str | None, typer.Option("--to", help="With --outbound: the recipient.", show_default=False)
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Inbound: a sender address SES has verified. Default: mailflow-test@<domain>.",
            show_default=False,
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="Which configured domain to use. Default: the first.", show_default=False
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for the email on APP's queue (with --outbound: its outbound.status, then SES's "
            "delivery or bounce event).",
        ),
    ] = False,
    status_only: Annotated[
        bool,
        typer.Option(
            "--status-only",
            help="With --outbound --wait: stop at outbound.status (SES accepted it), without waiting for "
            "SES's delivery or bounce event.",
        ),
    ] = False,
    timeout: TimeoutOption = "2m",
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Send a uniquely marked test email to _APP@<domain> through SES (or, with --outbound, from APP).

    With --wait, watch APP's queue for exactly that email (or the outbound.status with its correlationId,
    then the outbound.event in which SES says it was delivered or bounced) and report the latency; other
    messages are left in the queue and the test messages are deleted. On timeout, exit 1 and say where to
    look.
    """
    from mailflow_cli.operate import send_test_command

    ctx = target.open()
    send_test_command.run(
        ctx,
        app_name,
        outbound=outbound,
        to=to,
        sender=sender,
        domain=domain,
        wait=wait,
        status_only=status_only,
        timeout=timeout,
        json_output=json_output,
    )


# logs -----------------------------------------------------------------------------------------------------
@stack_options
def logs(
    *,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C to stop).")
    ] = False,
    since: Annotated[str, typer.Option("--since", help="How far back to start: 10s, 10m, 2h, 1d.")] = "10m",
    filter_pattern: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="A CloudWatch Logs filter pattern, for example ERROR or a message id.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="The raw log events, one JSON document per line.")
    ] = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Show the handler's CloudWatch logs, structured lines rendered readably.

    Metric (EMF) lines are summarised; --json prints the events as they are. When the function has not
    run yet there is no log group: that is reported, not an error.
    """
    from mailflow_cli.operate import logs_command

    ctx = target.open()
    logs_command.run(
        ctx, since=since, filter_pattern=filter_pattern, follow_logs=follow, json_output=json_output
    )


# dlq ------------------------------------------------------------------------------------------------------
dlq_app = typer.Typer(
    help="Dead-letter queues: what failed and why, redrive it, or purge it.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
DlqArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[QUEUE]", help="apps, outbound, inbound or events (default: all four).", show_default=False
    ),
]
RequiredDlqArgument = Annotated[
    str, typer.Argument(metavar="QUEUE", help="apps, outbound, inbound or events.", show_default=False)
]


@stack_options
def dlq_list(
    *,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Each dead-letter queue with its depth, oldest message and the reasons recorded for the failures."""
    from mailflow_cli.operate import dlq_command

    dlq_command.list_queues(target.open(), json_output=json_output)


@stack_options
def dlq_show(
    queue: DlqArgument = None,
    *,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="At most N messages per queue.")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON document per message.")] = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Print the failed messages (peeked: they stay in the queue)."""
    from mailflow_cli.operate import dlq_command

    dlq_command.show(target.open(), queue, limit=limit, json_output=json_output)


@stack_options
def dlq_redrive(
    queue: RequiredDlqArgument,
    *,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Move failed messages back to their source queues (inbound: replay the emails to the handler).

    apps, outbound and events: only messages SQS itself dead-lettered go back, each to the stack queue it
    came from (SQS's move task where available, otherwise copied back and deleted). inbound: the handler is
    re-invoked with its own stored record of each email an entry names, while the raw mail exists. A DLQ
    body never chooses the target. Entries that cannot be redriven stay in the DLQ and are listed with why.
    """
    from mailflow_cli.operate import dlq_command

    dlq_command.redrive(target.open(), queue, json_output=json_output)


@stack_options
def dlq_purge(
    queue: RequiredDlqArgument,
    *,
    yes: YesOption = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Delete every message in a dead-letter queue, after confirmation (--yes without a terminal)."""
    from mailflow_cli.operate import dlq_command

    dlq_command.purge(target.open(), queue, assume_yes=yes, json_output=json_output)


# init -----------------------------------------------------------------------------------------------------
def init(
    *,
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment", "-e", help="Environment name, e.g. dev (1-16 a-z0-9).", show_default=False
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="AWS region with SES receiving, e.g. eu-west-1.", show_default=False),
    ] = None,
    domain: Annotated[
        list[str] | None,
        typer.Option(
            "--domain", "-d", help="A domain that receives mail (repeat for more).", show_default=False
        ),
    ] = None,
    app_name: Annotated[
        list[str] | None,
        typer.Option("--app", "-a", help="An application name (repeat for more).", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing mailflow.yaml and schema file.")
    ] = False,
    schema_path: Annotated[
        Path | None,
        typer.Option(
            "--schema-path",
            help="Where to write the config's JSON Schema (default: mailflow.schema.json beside it).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a commented mailflow.yaml in the current directory, and its JSON Schema beside it.

    Values come from the flags; any that are missing are asked for when there is a terminal (without
    one, a missing flag is an error). The file is validated before it is written. Its first line points
    editors that use yaml-language-server (VS Code's YAML extension, Neovim, Helix) at the schema, so they
    complete keys and flag mistakes as you type.
    """
    from mailflow_cli.operate import init_command

    init_command.run(
        environment=environment,
        region=region,
        domains=domain or [],
        apps=app_name or [],
        force=force,
        schema_path=schema_path,
    )


# status ---------------------------------------------------------------------------------------------------
@stack_options
def status(
    *,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Is my mail flowing? Resources, receipt rules, domains, sending, queue depths, alarms, handler errors.

    Exit 0 when healthy; exit 1 with the reasons when anything needs attention.
    """
    from mailflow_cli.operate import status_command

    if not status_command.run(target.open(), json_output=json_output):
        raise typer.Exit(1)


def _help(command: Callable[..., None]) -> str:
    """The docstring with each paragraph on one line, so that the terminal, not the source, wraps it."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def register(app: typer.Typer) -> None:
    commands: tuple[tuple[str, Callable[..., None]], ...] = (
        ("init", init),
        ("verify-domain", verify_domain),
        ("send-test", send_test),
        ("tail", tail),
        ("wait", wait),
        ("status", status),
        ("logs", logs),
    )
    for name, command in commands:
        app.command(name, help=_help(command))(command)
    dlq_commands: tuple[tuple[str, Callable[..., None]], ...] = (
        ("list", dlq_list),
        ("show", dlq_show),
        ("redrive", dlq_redrive),
        ("purge", dlq_purge),
    )
    for name, command in dlq_commands:
        dlq_app.command(name, help=_help(command))(command)
    app.add_typer(dlq_app, name="dlq")
