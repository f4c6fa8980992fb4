"""The ``mailflow`` command: a typer app whose commands live in ``mailflow_cli.commands``.

Expected failures (:class:`MailflowError`) print one sentence and a hint, and exit with the error's
code; only ``-v`` shows a traceback. Heavy modules (boto3, moto) are imported by the commands that
need them, so ``mailflow --help`` stays fast.

Shell completion is typer's: ``mailflow --install-completion [SHELL]`` adds it to the shell's start-up
file, ``mailflow --show-completion [SHELL]`` prints the script (bash, zsh, fish, powershell, pwsh).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from mailflow_cli import __version__
from mailflow_cli.console import err, styled
from mailflow_cli.errors import MailflowError

COMMAND_MODULES = (
    "stack",
    "app_policy",
    "permissions",
    "local",
    "operate",
    "diagnose",
    "suppression",
    "cost",
)
PROG_NAME = "mailflow"  # also under `python -m mailflow_cli`: usage lines and completion scripts name it

app = typer.Typer(
    name=PROG_NAME,
    help="Give applications their own email on AWS: provision and operate a serverless email router.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailflow {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show details (and tracebacks) of failures.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    if verbose:
        os.environ["MAILFLOW_VERBOSE"] = "1"


_registered = False


def _register_commands() -> None:
    global _registered  # noqa: PLW0603 - commands are added to the one typer app once per process
    if _registered:
        return
    _registered = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"mailflow_cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mailflow_cli.commands.{name}":
                raise
            continue
        module.register(app)


def report(error: MailflowError) -> None:
    err.print(styled(("Error:", "bold red"), f" {error.message}"))
    for detail in error.details:
        err.print(f"  - {detail}")
    if error.hint:
        err.print(styled(("Hint:", "dim"), f" {error.hint}"))


def run(argv: list[str] | None = None) -> None:
    _register_commands()
    verbose = "-v" in (argv or sys.argv) or "--verbose" in (argv or sys.argv)
    try:
        status = app(args=argv, prog_name=PROG_NAME, standalone_mode=False)
        if isinstance(status, int) and status:  # a command's typer.Exit(code): click returns the code
            sys.exit(status)
    except MailflowError as error:
        if verbose:
            err.print_exception()
        report(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(1)
    except typer.TyperException as usage:  # bad arguments: typer prints usage and the problem
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        sys.exit(int(getattr(usage, "exit_code", 2)))
    except Exception as exc:  # botocore errors that escaped a command's own translation
        from mailflow_cli.aws import translate_botocore_error, translate_client_error

        if type(exc).__module__.startswith("botocore"):
            translated = (
                translate_client_error(exc, "AWS")
                if hasattr(exc, "response")
                else translate_botocore_error(exc)
            )
            if verbose:
                err.print_exception()
            report(translated)
            sys.exit(translated.exit_code)
        raise
