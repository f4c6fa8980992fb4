"""The day-two commands with --local against the emulator, where mail really flows: SES sends the test
email back into the SMTP ingress, the receipt rule runs the packaged handler, the app queue receives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import load_config
from mailflow_cli.context import StackContext
from mailflow_cli.local.control import process_running
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.state import read_state

pytestmark = pytest.mark.e2e

CONFIG = """\
environment: dev
region: eu-west-1
domains:
  - example.com
apps:
  - app1
  - app2
"""


@dataclass
class Emulated:
    home: Path
    workdir: Path

    def mailflow(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MAILFLOW_CONFIG"}
        env.update(MAILFLOW_HOME=str(self.home), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        return subprocess.run(
            [sys.executable, "-m", "mailflow_cli", *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    from mailflow_cli.deploy import deploy_stack

    workdir = tmp_path_factory.mktemp("local-operate")
    (workdir / "mailflow.yaml").write_text(CONFIG, encoding="utf-8")
    emulated = Emulated(home=workdir / "home", workdir=workdir)
    ports = ("--port", str(free_port()), "--smtp-port", str(free_port()), "--ui-port", str(free_port()))
    started = emulated.mailflow("local", "start", *ports, "--region", "eu-west-1")
    assert started.returncode == 0, started.stderr
    state = read_state(emulated.home / "local" / "state.json")
    assert state is not None
    try:
        target = AwsTarget(
            "eu-west-1", endpoint_url=state.endpoint, access_key=state.access_key, secret_key=state.secret_key
        )
        config = load_config(workdir / "mailflow.yaml")
        ctx = StackContext(
            config=config, config_path=workdir / "mailflow.yaml", clients=AwsClients(target), local=True
        )
        deploy_stack(ctx, assume_yes=True)
        verified = emulated.mailflow("verify-domain", "example.com", "--local", "--json")
        assert verified.returncode == 0, verified.stderr
        yield emulated
    finally:
        emulated.mailflow("local", "stop")
        assert not process_running(state.pid)


def test_send_test_waits_for_the_email_to_reach_the_app(emulated: Emulated) -> None:
    result = emulated.mailflow("send-test", "app1", "--wait", "--timeout", "60s", "--local", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["delivered"] is True
    assert report["message"]["type"] == "inbound.email"
    assert report["message"]["app"] == "app1"
    assert report["message"]["email"]["subject"] == report["subject"]
    assert report["latencySeconds"] >= 0


def test_send_test_outbound_reports_the_status(emulated: Emulated) -> None:
    """Up to SES's acceptance (--status-only); SES's delivery event is the feedback path's, whose emulator
    side (the mailbox simulator) its own end-to-end tests cover."""
    result = emulated.mailflow(
        "send-test", "app2", "--outbound", "--to", "bob@elsewhere.example", "--wait", "--status-only",
        "--timeout", "60s", "--local", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["message"]
    assert status["type"] == "outbound.status"
    assert status["status"] == "sent", status


def test_logs_status_and_tail_against_the_emulator(emulated: Emulated) -> None:
    for _ in range(20):  # the emulator writes an invocation's logs once it has finished
        logs = emulated.mailflow("logs", "--since", "10m", "--local", "--json")
        assert logs.returncode == 0, logs.stderr
        if logs.stdout.strip():
            break
        time.sleep(0.5)
    assert any(json.loads(line)["message"].startswith("REPORT") for line in logs.stdout.splitlines())
    status = emulated.mailflow("status", "--local", "--json")
    report = json.loads(status.stdout)
    assert report["receiptRules"]["rule_in_active_set"] is True
    assert all(r["state"] == "present" for r in report["resources"]), report["problems"]
    tail = emulated.mailflow("tail", "app1", "--local")
    assert tail.returncode == 0, tail.stderr


def test_wait_finds_the_email_an_end_to_end_test_sent(emulated: Emulated, tmp_path: Path) -> None:
    subject = f"Order {time.time_ns()}"
    message = tmp_path / "order.eml"
    message.write_text(
        f"From: Shop <shop@customer.example>\r\nTo: _app2@example.com\r\nSubject: {subject}\r\n\r\nHi.\r\n",
        encoding="utf-8",
    )
    sent = emulated.mailflow("local", "send", str(message))
    assert sent.returncode == 0, sent.stderr
    found = emulated.mailflow(
        "wait", "app2", "--subject", subject, "--from", "shop@customer.example", "--delete",
        "--timeout", "60s", "--local", "--json",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)["body"]
    assert (body["type"], body["email"]["subject"]) == ("inbound.email", subject)
    again = emulated.mailflow("wait", "app2", "--subject", subject, "--timeout", "2s", "--local")
    assert again.returncode == 1, "--delete consumed it"
    assert "did not reach mailflow-dev-app-app2 within 2.0s" in " ".join(again.stderr.split())
