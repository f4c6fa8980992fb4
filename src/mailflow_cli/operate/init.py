"""``mailflow init``: a commented ``mailflow.yaml`` written from flags or answers, and its JSON Schema.

The text is the project's ``mailflow.yaml.example`` (packaged in the wheel, or at the root of a source
checkout) with the four required keys filled in, so every optional key keeps its comment and default.

Editors: the file's first line is ``# yaml-language-server: $schema=./mailflow.schema.json``, and the
schema (:mod:`mailflow_cli.config_schema`, for the installed Mailflow version) is written beside it, so
an editor with yaml-language-server (VS Code's YAML extension, Neovim, Helix, ...) completes and checks
the file with no network and no URL to guess. ``--schema-path`` puts the schema elsewhere (the line then
holds the path relative to the config). After upgrading Mailflow, regenerate it with
``python -m mailflow_cli.config_schema mailflow.schema.json``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mailflow_cli.config import DEFAULT_CONFIG_NAME, MailflowConfig, parse_config

EXAMPLE_NAME = "mailflow.yaml.example"
SCHEMA_NAME = "mailflow.schema.json"
SCHEMA_LINE = "# yaml-language-server: $schema="

MINIMAL_TEMPLATE = """\
# mailflow.yaml: one Mailflow stack (an environment) in one AWS account and region.
# Only the first four keys are required; see mailflow.yaml.example for every optional key.

# Part of every resource name (mailflow-<environment>-...): 1-16 lowercase letters and digits.
environment: dev

# The AWS region. It must support SES email receiving (for example us-east-1, us-west-2, eu-west-1).
region: eu-west-1

# Domains whose mail this stack receives. Mail to _<app>@<domain> goes to that app's queue.
domains:
  - example.com

# Applications. Each gets an SQS queue (mailflow-<environment>-app-<name>) and the address
# _<name>@<domain>. A plain name is enough; the long form grants more.
apps:
  - app1
"""

LONG_FORM_EXAMPLE = """\
  # The long form, for an app that needs more:
  # - name: billing
  #   sendAs: []                 # extra From addresses (besides _billing@<each domain>)
  #   allowedSenderDomains: []   # when set, only authenticated senders of these domains (SPF/DMARC)
  #   senderPrincipals: []       # IAM role/user ARNs that alone may send outbound mail as billing
"""


@dataclass(frozen=True)
class InitAnswers:
    environment: str
    region: str
    domains: tuple[str, ...]
    apps: tuple[str, ...]


def example_text() -> str:
    from importlib.resources import files

    import mailflow_cli

    packaged = files("mailflow_cli") / "data" / EXAMPLE_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(mailflow_cli.__file__).resolve().parents[2] / EXAMPLE_NAME
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return MINIMAL_TEMPLATE


def _replace_scalar(text: str, key: str, value: str) -> str:
    return re.sub(rf"(?m)^{key}:.*$", f"{key}: {value}", text, count=1)


def _replace_list(text: str, key: str, items: list[str]) -> str:
    """Replace the indented block under a top-level ``key:`` with ``items``."""
    pattern = re.compile(rf"(?m)^{key}:\n(?:^[ \t]+.*\n)*")
    return pattern.sub(lambda _: f"{key}:\n" + "".join(items), text, count=1)


def render(answers: InitAnswers, template: str | None = None) -> str:
    text = template if template is not None else example_text()
    text = _replace_scalar(text, "environment", answers.environment)
    text = _replace_scalar(text, "region", answers.region)
    text = _replace_list(text, "domains", [f"  - {domain}\n" for domain in answers.domains])
    return _replace_list(text, "apps", [f"  - {app}\n" for app in answers.apps] + [LONG_FORM_EXAMPLE])


def schema_reference(config_path: Path, schema_path: Path) -> str:
    """How the config's first line names the schema: relative to the config's directory (as
    yaml-language-server resolves it), else absolute (another drive)."""
    try:
        relative = Path(os.path.relpath(schema_path.resolve(), config_path.resolve().parent)).as_posix()
    except ValueError:
        return schema_path.resolve().as_posix()
    return relative if relative.startswith("../") else f"./{relative}"


def with_schema_line(text: str, reference: str) -> str:
    """``text`` with the yaml-language-server line first (replacing one the template had)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(SCHEMA_LINE):
        lines = lines[1:]
    return f"{SCHEMA_LINE}{reference}\n" + "".join(lines)


def validate(text: str, target: Path) -> MailflowConfig:
    return parse_config(text, f"{target} (from your answers)")


def default_target(cwd: Path) -> Path:
    return cwd / DEFAULT_CONFIG_NAME


def split_list(values: list[str]) -> tuple[str, ...]:
    """``--domain a --domain b`` or ``a,b`` or ``a b``: one list, in order, without repeats."""
    seen: dict[str, None] = {}
    for value in values:
        for part in re.split(r"[,\s]+", value.strip()):
            if part:
                seen.setdefault(part.lower(), None)
    return tuple(seen)
