"""Wiring and output of ``mailflow init``: flags first, prompts for the rest when there is a terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from mailflow_cli.console import err, out
from mailflow_cli.errors import UsageError
from mailflow_cli.operate.init import InitAnswers, default_target, render, split_list, validate


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def run(
    *,
    environment: str | None,
    region: str | None,
    domains: list[str],
    apps: list[str],
    force: bool,
    cwd: Path | None = None,
) -> Path:
    target = default_target(cwd or Path.cwd())
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to overwrite it")
    answers = _complete(environment, region, split_list(domains), split_list(apps))
    text = render(answers)
    validate(text, target)
    target.write_text(text, encoding="utf-8")
    out.print(f"Wrote {target}")
    err.print(
        "Next: `mailflow deploy`, then `mailflow verify-domain "
        f"{answers.domains[0]}` and `mailflow send-test {answers.apps[0]} --wait`."
    )
    return target


def _complete(
    environment: str | None, region: str | None, domains: tuple[str, ...], apps: tuple[str, ...]
) -> InitAnswers:
    missing = [
        flag
        for flag, value in (
            ("--environment", environment),
            ("--region", region),
            ("--domain", domains),
            ("--app", apps),
        )
        if not value
    ]
    if missing and not stdin_is_tty():
        raise UsageError(
            f"missing {', '.join(missing)} (and no terminal to ask)",
            hint="for example: mailflow init --environment dev --region eu-west-1 "
            "--domain example.com --app app1",
        )
    import typer

    return InitAnswers(
        environment=environment or typer.prompt("Environment (part of every resource name)", default="dev"),
        region=region or typer.prompt("AWS region (must support SES receiving)", default="eu-west-1"),
        domains=domains or split_list([typer.prompt("Domains that receive mail (comma-separated)")]),
        apps=apps or split_list([typer.prompt("Apps (comma-separated)", default="app1")]),
    )
