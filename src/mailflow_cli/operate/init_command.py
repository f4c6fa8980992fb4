"""Wiring and output of ``mailflow init``: flags first, prompts for the rest when there is a terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from mailflow_cli.console import err, out
from mailflow_cli.errors import UsageError
from mailflow_cli.operate.init import (
    SCHEMA_NAME,
    InitAnswers,
    default_target,
    example_text,
    render,
    schema_reference,
    split_list,
    validate,
    with_schema_line,
)


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def run(
    *,
    environment: str | None,
    region: str | None,
    domains: list[str],
    apps: list[str],
    force: bool,
    schema_path: Path | None = None,
    cwd: Path | None = None,
) -> Path:
    from mailflow_cli.config_schema import config_schema, schema_text

    directory = cwd or Path.cwd()
    target = default_target(directory)
    schema = directory / (schema_path or target.with_name(SCHEMA_NAME))
    if schema.is_dir() or not schema.parent.is_dir():
        raise UsageError(
            f"--schema-path {schema_path} names no file in an existing directory",
            hint=f"for example --schema-path {SCHEMA_NAME} or --schema-path .vscode/{SCHEMA_NAME}",
        )
    for path in (target, schema):
        if path.exists() and not force:
            raise UsageError(f"{path} already exists", hint="pass --force to overwrite it")
    answers = _complete(environment, region, split_list(domains), split_list(apps))
    example = example_text()
    text = with_schema_line(render(answers, example), schema_reference(target, schema))
    validate(text, target)
    schema.write_text(schema_text(config_schema(example)), encoding="utf-8")
    target.write_text(text, encoding="utf-8")
    out.print(f"Wrote {target}, and its JSON Schema {schema} (editors complete and check the file with it)")
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
