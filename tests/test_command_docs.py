"""Every command the CLI registers is in the README's command table and has a section in
docs/commands.md, and every link into docs/commands.md lands on a heading that exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import typer
import typer.main

from mailflow_cli.cli import COMMAND_MODULES

ROOT = Path(__file__).resolve().parent.parent
COMMANDS_DOC = ROOT / "docs" / "commands.md"


def _top_level_commands() -> list[str]:
    app = typer.Typer()
    for name in COMMAND_MODULES:
        importlib.import_module(f"mailflow_cli.commands.{name}").register(app)
    commands = getattr(typer.main.get_command(app), "commands", {})
    assert len(commands) > 10
    return sorted(name for name, command in commands.items() if not command.hidden)


def _github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _headings(markdown: str) -> list[str]:
    return [line.lstrip("#").strip() for line in markdown.splitlines() if re.match(r"#{1,6} ", line)]


def test_every_command_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in _top_level_commands() if f"| [`mailflow {name}`](" not in readme]
    assert missing == []


def test_every_command_has_a_section_in_the_command_reference() -> None:
    headings = _headings(COMMANDS_DOC.read_text(encoding="utf-8"))
    missing = [
        name
        for name in _top_level_commands()
        if not any(re.search(rf"`mailflow {re.escape(name)}[` ]", heading) for heading in headings)
    ]
    assert missing == []


def test_links_into_the_command_reference_land_on_a_heading() -> None:
    anchors = {_github_anchor(heading) for heading in _headings(COMMANDS_DOC.read_text(encoding="utf-8"))}
    sources = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [
        f"{source.name}: #{anchor}"
        for source in sources
        for anchor in re.findall(r"commands\.md#([\w-]+)", source.read_text(encoding="utf-8"))
        if anchor not in anchors
    ]
    assert broken == []


def test_the_anchor_rule_matches_githubs() -> None:
    assert _github_anchor("`mailflow dlq list|show|redrive|purge [QUEUE]`") == (
        "mailflow-dlq-listshowredrivepurge-queue"
    )
    assert _github_anchor("`mailflow local` and `mailflow demo`") == "mailflow-local-and-mailflow-demo"
