"""``mailflow local start|status|stop|send|outbox`` and ``mailflow demo`` (``local faults``:
:mod:`mailflow_cli.commands.local_faults`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from mailflow_cli.console import err, out, print_json, styled, terminal_safe
from mailflow_cli.errors import MailflowError, UsageError
from mailflow_cli.options import JsonOption

local_app = typer.Typer(
    name="local",
    help="Run the whole mail path on this machine: AWS APIs (moto), SMTP ingress, Lambda, queues.",
    no_args_is_help=True,
)


def _home() -> Path:
    from mailflow_cli.local.state import state_file

    return state_file().parent


def _default_region() -> str:
    """The config's region when ./mailflow.yaml (or $MAILFLOW_CONFIG) is valid, else the AWS default."""
    from mailflow_cli.config import load_config, resolve_config_path

    path = resolve_config_path(None, os.environ)
    if path.is_file():
        try:
            return load_config(path).region
        except MailflowError:
            pass
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"


def _require_emulator_packages() -> None:
    """The emulator's packages are an extra (``mailflow[local]``): say so instead of an ImportError."""
    import importlib.util

    needed = ("moto", "aiosmtpd", "werkzeug", "jinja2", "nh3")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise MailflowError(
            f"the local emulator needs {' and '.join(missing)}, which this installation lacks",
            hint="install the extra: pip install 'mailflow[local]' (from a clone: pip install '.[local]')",
        )


@local_app.command("start")
def start(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The AWS endpoint's port.")] = 4566,
    smtp_port: Annotated[
        int, typer.Option("--smtp-port", min=1, max=65535, help="The SMTP ingress's port.")
    ] = 2525,
    ui_port: Annotated[
        int,
        typer.Option("--ui-port", min=0, max=65535, help="The web inbox's port (0: no web inbox)."),
    ] = 8025,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="The region the emulator receives mail in "
            "(default: the region of ./mailflow.yaml, else $AWS_DEFAULT_REGION).",
            show_default=False,
        ),
    ] = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal until Ctrl-C.")
    ] = False,
) -> None:
    """Start the local emulator on 127.0.0.1 (in the background unless --foreground)."""
    _require_emulator_packages()
    from mailflow_cli.local import control
    from mailflow_cli.local.server import EmulatorOptions, run

    ports = [port, smtp_port, *([ui_port] if ui_port else [])]
    if len(set(ports)) != len(ports):
        raise UsageError("--port, --smtp-port and --ui-port must be three different ports")
    options = EmulatorOptions(
        port=port, smtp_port=smtp_port, region=region or _default_region(), home=_home(), ui_port=ui_port
    )
    note = control.clear_stale(options)
    if note:
        err.print(styled(("Note:", "dim"), f" {note}"))
    control.check_ports(options)
    if foreground:
        err.print(f"Logs below; press Ctrl-C to stop. State: {options.state_path}")
        status = run(options, on_ready=lambda state: _print_ready(state, foreground=True))
        raise typer.Exit(status)
    _print_ready(control.start_background(options))


def _print_ready(state: object, *, foreground: bool = False) -> None:
    from mailflow_cli.local.control import log_path, shell_exports
    from mailflow_cli.local.state import EmulatorState

    assert isinstance(state, EmulatorState)
    err.print(
        styled(
            ("The local emulator is running", "green"),
            f" (pid {state.pid}).\n"
            f"  AWS endpoint  {state.endpoint}   (region {state.region})\n"
            f"  SMTP ingress  {state.smtp_host}:{state.smtp_port}   (STARTTLS offered, self-signed)\n"
            + (f"  Web inbox     {state.ui_url}\n" if state.ui_url else "")
            + ("" if foreground else f"  Log           {log_path(_home())}\n")
            + "Use it with --local on any mailflow command (e.g. `mailflow deploy --local`),\n"
            "or point any AWS tool at it (the access key is new at every start):",
        ),
        soft_wrap=True,
    )
    out.print(shell_exports(state))


@local_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Show whether the emulator is running, its endpoint, ports and uptime (exit 1 when it is not)."""
    from mailflow_cli.local import control

    current = control.status(_home())
    state = current.state
    if json_output:
        data: dict[str, object] = {"running": current.running, "stale": current.stale}
        if state is not None and current.running:
            data.update(
                pid=state.pid,
                endpoint=state.endpoint,
                smtpHost=state.smtp_host,
                smtpPort=state.smtp_port,
                region=state.region,
                uptimeSeconds=round(time.time() - state.started_at, 1),
                uiUrl=state.ui_url,
            )
        print_json(data)
    elif current.running and state is not None:
        uptime = int(time.time() - state.started_at)
        out.print(
            f"running (pid {state.pid}, up {uptime // 3600}h{uptime % 3600 // 60:02d}m{uptime % 60:02d}s)\n"
            f"  endpoint  {state.endpoint}  region {state.region}\n"
            f"  smtp      {state.smtp_host}:{state.smtp_port}"
            + (f"\n  web       {state.ui_url}" if state.ui_url else "")
        )
    elif current.stale and state is not None:
        out.print(
            f"not running (a stale state file names pid {state.pid}; `mailflow local start` replaces it)"
        )
    else:
        out.print("not running (start it with `mailflow local start`)")
    if not current.running:
        raise typer.Exit(1)


@local_app.command("stop")
def stop() -> None:
    """Stop the emulator (SIGTERM, then wait) and remove its state file. Everything in it is lost."""
    from mailflow_cli.local import control

    stopped = control.stop(_home())
    if stopped is None:
        err.print("The local emulator was not running.")
    else:
        err.print(f"Stopped the local emulator (pid {stopped.pid}).")


@local_app.command("send")
def send(  # noqa: PLR0917 - typer maps each option to a parameter
    file: Annotated[Path, typer.Argument(help="The message (.eml, RFC 5322).", exists=True, dir_okay=False)],
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Envelope recipient (repeatable; default: To and Cc).")
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option("--from", help="Envelope sender (default: the From header).", show_default=False),
    ] = None,
    verdict: Annotated[
        list[str] | None,
        typer.Option("--verdict", help="NAME=STATUS for spam, virus, spf, dkim, dmarc (e.g. virus=FAIL)."),
    ] = None,
    dmarc_policy: Annotated[
        str | None,
        typer.Option("--dmarc-policy", help="The sender domain's DMARC policy: none, quarantine, reject."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Deliver a message to the emulator's SMTP ingress, as a mail server would (over STARTTLS)."""
    from mailflow_cli.local.send import send_message
    from mailflow_cli.local.ses_event import Verdicts
    from mailflow_cli.local.state import running_state

    try:
        verdicts = Verdicts.parse(verdict or [], dmarc_policy) if (verdict or dmarc_policy) else None
    except ValueError as exc:
        raise UsageError(f"--verdict/--dmarc-policy: {exc}") from None
    state = running_state()
    result = send_message(
        file.read_bytes(),
        host=state.smtp_host,
        port=state.smtp_port,
        mail_from=sender,
        recipients=to or [],
        verdicts=verdicts,
    )
    if json_output:
        print_json({"messageId": result.message_id, "accepted": result.accepted, "refused": result.refused})
    else:
        for address, reply in result.refused.items():
            err.print(styled(("refused", "red"), f" {address}: {reply}"))
        if result.accepted:
            out.print(f"accepted for {', '.join(result.accepted)} as {result.message_id}")
    if result.refused:
        raise typer.Exit(1)


@local_app.command("outbox")
def outbox(
    show: Annotated[
        int | None, typer.Option("--show", help="Print message N as MIME.", show_default=False)
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List the mail sent through SES that the emulator did not deliver itself, with what SES did with
    each recipient (the mailbox simulator's bounce, complaint...) and the SES events published."""
    import sys

    from rich.table import Table

    from mailflow_cli.local.outbox import OutboxStore

    store = OutboxStore(_home() / "outbox")
    if show is not None:
        raw = store.raw(show)
        if raw is None:
            raise MailflowError(
                f"the outbox has no message {show}", hint="list them with `mailflow local outbox`"
            )
        if sys.stdout.isatty():
            raw = terminal_safe(raw)
        sys.stdout.buffer.write(raw if raw.endswith(b"\n") else raw + b"\n")
        sys.stdout.flush()
        return
    entries = store.entries()
    if json_output:
        print_json([entry.__dict__ for entry in entries])
        return
    if not entries:
        err.print("The outbox is empty.")
        return
    table = Table("#", "time", "from", "to", "outcome", "subject", "size", "SES events")
    for entry in entries:
        table.add_row(
            str(entry.number),
            time.strftime("%H:%M:%S", time.localtime(entry.time)),
            entry.sender,
            "\n".join(entry.recipients),
            "\n".join(entry.outcomes.get(address, "") for address in entry.recipients),
            entry.subject,
            f"{entry.size:,} B",
            _events_cell(entry.configuration_set, entry.events),
        )
    out.print(table)


def _events_cell(configuration_set: str | None, events: list[str]) -> str:
    if configuration_set is None:
        return "(no configuration set)"
    return ", ".join(events) or "none published"


def demo(
    config: Annotated[
        Path | None,
        typer.Option(
            "-c", "--config", help="Deploy this config instead of mailflow.yaml.example.", show_default=False
        ),
    ] = None,
) -> None:
    """Run the whole mail path offline: private emulator, deploy, inbound mail, outbound mail, teardown."""
    _require_emulator_packages()
    from mailflow_cli.local.demo import run_demo

    raise typer.Exit(run_demo(config))


def register(app: typer.Typer) -> None:
    from mailflow_cli.commands.local_faults import faults_app

    local_app.add_typer(faults_app, name="faults")
    app.add_typer(local_app, name="local")
    app.command("demo")(demo)
