"""`mailflow local` failure modes give one clear sentence and an exit status, never a traceback (the
demo's run is in test_e2e_feedback: its feedback steps need the whole of issue 11)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow_cli.local.ports import free_port
from mailflow_cli.local.state import EmulatorState, read_state

from .test_e2e import mailflow


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_status_when_not_running(home: Path) -> None:
    result = mailflow(home, "local", "status")
    assert result.returncode == 1
    assert "not running" in result.stdout
    as_json = mailflow(home, "local", "status", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"running": False, "stale": False}


def test_stop_when_not_running_is_harmless(home: Path) -> None:
    result = mailflow(home, "local", "stop")
    assert result.returncode == 0
    assert "was not running" in result.stderr


def test_stale_state_and_busy_port_are_explained(home: Path) -> None:
    state_path = home / "local" / "state.json"
    EmulatorState(
        pid=dead_pid(),
        endpoint="http://127.0.0.1:1",
        smtp_host="127.0.0.1",
        smtp_port=2,
        region="eu-west-1",
        started_at=0,
        access_key="MFLOCALSTALE",
        secret_key="stale",
    ).save(state_path)
    status = mailflow(home, "local", "status")
    assert status.returncode == 1
    assert "stale state file" in status.stdout
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = mailflow(home, "local", "start", "--port", str(port), "--smtp-port", str(free_port()))
    assert result.returncode == 1
    assert "no longer running" in result.stderr
    assert f"port {port} on 127.0.0.1 (the AWS endpoint) is already in use" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert read_state(state_path) is None


def test_commands_that_need_the_emulator_say_so(home: Path, tmp_path: Path) -> None:
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: a@x.org\nTo: _app1@example.com\nSubject: s\n\nhi\n")
    result = mailflow(home, "local", "send", str(message))
    assert result.returncode == 1
    assert "the local emulator is not running" in result.stderr
    assert "Traceback" not in result.stderr
    bad = mailflow(home, "local", "send", str(message), "--verdict", "virus=MAYBE")
    assert bad.returncode == 2
    assert "expected NAME=STATUS" in " ".join(bad.stderr.split())


def test_empty_outbox(home: Path) -> None:
    result = mailflow(home, "local", "outbox", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []
    missing = mailflow(home, "local", "outbox", "--show", "3")
    assert missing.returncode == 1
    assert "no message 3" in missing.stderr


def test_start_and_demo_name_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation without the `local` extra gets the pip command, not an ImportError."""
    import importlib.util

    from mailflow_cli.commands import local as local_commands
    from mailflow_cli.errors import MailflowError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aiosmtpd" else real_find_spec(name, *a)
    )
    for command in (local_commands.start, local_commands.demo):
        with pytest.raises(MailflowError, match="needs aiosmtpd") as missing:
            command()
        assert "mailflow[local]" in (missing.value.hint or "")


def test_outbox_lists_each_recipient_s_outcome_and_the_ses_events(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    from typer.testing import CliRunner

    from mailflow_cli import cli, console
    from mailflow_cli.local.outbox import OutboxStore
    from mailflow_cli.local.sent_mail import SentMail

    raw = b"From: _app1@example.com\r\nTo: x\r\nSubject: Invoice\r\n\r\nhi\r\n"
    OutboxStore(Path(os.environ["MAILFLOW_HOME"]) / "local" / "outbox").add(
        SentMail(
            "_app1@example.com",
            ("bounce@simulator.amazonses.com", "success@simulator.amazonses.com"),
            raw,
            "id-1",
            configuration_set="mailflow-dev",
        ),
        {
            "bounce@simulator.amazonses.com": "bounced (550 5.1.1 user unknown)",
            "success@simulator.amazonses.com": "delivered",
        },
        ["Send", "Delivery", "Bounce"],
    )
    buffer = io.StringIO()
    # The console's own attributes, so that undoing restores them exactly (None: sys.stdout, any width).
    monkeypatch.setattr(console.out, "_file", buffer)
    monkeypatch.setattr(console.out, "_width", 250)
    cli._register_commands()
    assert CliRunner().invoke(cli.app, ["local", "outbox"], catch_exceptions=False).exit_code == 0
    lines = buffer.getvalue().splitlines()
    bounce_row = next(line for line in lines if "bounce@simulator.amazonses.com" in line)
    assert "bounced (550 5.1.1 user unknown)" in bounce_row
    assert "Send, Delivery, Bounce" in bounce_row
    success_row = next(line for line in lines if "success@simulator.amazonses.com" in line)
    assert "delivered" in success_row
