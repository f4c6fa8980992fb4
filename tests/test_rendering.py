"""Text from mail, apps and users is printed as it is: never read as rich markup or emoji codes."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.table import Table
from typer.testing import CliRunner

from mailflow_cli import cli, console
from mailflow_cli.errors import MailflowError
from mailflow_cli.local.outbox import OutboxStore
from mailflow_cli.local.sent_mail import SentMail

SRC = Path(__file__).resolve().parents[1] / "src" / "mailflow_cli"
HOSTILE = "[link=https://evil.example/login]Invoice 42[/link] [bold]x[/bold] :warning:"


@pytest.fixture
def terminal() -> Iterator[dict[str, io.StringIO]]:
    """Both consoles write to buffers, as to a colour terminal 200 columns wide. Their own settings are
    restored after (unset file and width: the stream and size of the moment, not the ones seen here)."""
    saved = [(c, c._file, c._force_terminal, c._width) for c in (console.out, console.err)]
    buffers = {"out": io.StringIO(), "err": io.StringIO()}
    for c, name in ((console.out, "out"), (console.err, "err")):
        c.file = buffers[name]
        c._force_terminal = True
        c.width = 200
    yield buffers
    for c, file, force, width in saved:
        c._file, c._force_terminal, c._width = file, force, width


OSC8 = "\x1b]8;"  # the escape sequence that starts a terminal hyperlink


def test_a_table_cell_from_mail_is_printed_literally(terminal: dict[str, io.StringIO]) -> None:
    table = Table("subject")
    table.add_row(HOSTILE)
    console.out.print(table)
    text = terminal["out"].getvalue()
    assert "[link=https://evil.example/login]Invoice 42[/link] [bold]x[/bold] :warning:" in text
    assert OSC8 not in text


def test_an_error_hint_keeps_its_brackets(terminal: dict[str, io.StringIO]) -> None:
    cli.report(MailflowError("moto is missing", hint="pip install 'mailflow[local]'", details=["[b]x[/b]"]))
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal["err"].getvalue())
    assert "Hint: pip install 'mailflow[local]'" in text
    assert "  - [b]x[/b]" in text


def test_styled_never_parses_its_parts() -> None:
    text = console.styled(("Error:", "bold red"), " [red]not red[/red]")
    assert text.plain == "Error: [red]not red[/red]"
    assert [span.style for span in text.spans] == ["bold red"]


def test_local_outbox_lists_a_hostile_subject_literally(terminal: dict[str, io.StringIO]) -> None:
    home = Path(os.environ["MAILFLOW_HOME"]) / "local"
    raw = f"From: a@example.net\r\nTo: b@example.org\r\nSubject: {HOSTILE}\r\n\r\nhi\r\n".encode()
    OutboxStore(home / "outbox").add(
        SentMail("a@example.net", ("b@example.org",), raw, "id-1"), {"b@example.org": "delivered"}
    )
    cli._register_commands()
    result = CliRunner().invoke(cli.app, ["local", "outbox"], catch_exceptions=False)
    assert result.exit_code == 0
    text = terminal["out"].getvalue()
    assert OSC8 not in text
    flattened = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "Invoice 42[/link]" in flattened
    assert "[link=https://evil.example/login]" in flattened
    assert ":warning:" in flattened


def test_raw_mail_shown_on_a_terminal_has_its_control_bytes_escaped() -> None:
    assert console.terminal_safe(b"Subject: a\x1b]8;;https://x\x07b\r\n\tc\n") == (
        b"Subject: a\\x1b]8;;https://x\\x07b\r\n\tc\n"
    )
    assert console.terminal_safe(b"plain\r\n") == b"plain\r\n"


def test_no_module_prints_through_markup() -> None:
    """The whole class: every console is made in console.py with markup and emoji off, and no call turns
    markup back on or writes markup tags."""
    offenders = []
    for path in SRC.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        relative = path.relative_to(SRC)
        if "Console(" in source and relative != Path("console.py"):
            offenders.append(f"{relative}: makes its own Console")
        if re.search(r"markup\s*=\s*True|\[/\]|rich\.markup", source):
            offenders.append(f"{relative}: uses rich markup")
    assert offenders == []
    assert console.out._markup is False
    assert console.err._markup is False
    assert console.out._emoji is False
    assert console.err._emoji is False
