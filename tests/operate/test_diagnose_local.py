"""trace, doctor and replay with --local against the emulator, where mail really flows: SMTP ingress,
receipt rule, the packaged handler (its log lines reach the emulator's CloudWatch Logs), the table, S3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_local_emulator import CONFIG, Emulated

from mailflow_cli.local.control import process_running
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.state import read_state

pytestmark = pytest.mark.e2e

INVOICE = (
    b"From: Alice <alice@example.org>\r\nSubject: Invoice 42\r\nMessage-ID: <i42@example.org>\r\n\r\nHi\r\n"
)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    workdir = tmp_path_factory.mktemp("local-diagnose")
    (workdir / "mailflow.yaml").write_text(CONFIG, encoding="utf-8")
    emulated = Emulated(home=workdir / "home", workdir=workdir)
    ports = ("--port", str(free_port()), "--smtp-port", str(free_port()), "--ui-port", str(free_port()))
    started = emulated.mailflow("local", "start", *ports, "--region", "eu-west-1")
    assert started.returncode == 0, started.stderr
    state = read_state(emulated.home / "local" / "state.json")
    assert state is not None
    try:
        for step in (("deploy", "--local", "--yes"), ("verify-domain", "example.com", "--local", "--json")):
            done = emulated.mailflow(*step)
            assert done.returncode == 0, done.stderr
        yield emulated
    finally:
        emulated.mailflow("local", "stop")
        assert not process_running(state.pid)


def _send(emulated: Emulated, to: str) -> str:
    path: Path = emulated.workdir / "invoice.eml"
    path.write_bytes(INVOICE)
    sent = emulated.mailflow("local", "send", str(path), "--to", to, "--from", "alice@example.org")
    assert sent.returncode == 0, sent.stderr
    return sent.stdout.strip().rsplit(" ", 1)[-1]  # "accepted for <to> as <SES id>"


def _traced(emulated: Emulated, query: str) -> dict[str, object]:
    """The match, once the handler's line is in the logs (the emulator writes them after the invocation;
    until then an SES id is found in the idempotency record alone, with a note saying so)."""
    for _ in range(40):
        result = emulated.mailflow("trace", query, "--local", "--json")
        if result.returncode == 0:
            matches = json.loads(result.stdout)["matches"]
            assert len(matches) == 1, matches
            match: dict[str, object] = matches[0]
            if "notes" not in match:
                return match
        else:
            assert result.returncode == 1, result.stderr
        time.sleep(0.5)
    raise AssertionError(f"trace never found {query}: {result.stderr}")


def test_trace_follows_an_email_through_the_emulator(emulated: Emulated) -> None:
    ses_id = _send(emulated, "_app1+invoices@example.com")
    match = _traced(emulated, ses_id)
    assert (match["direction"], match["sesMessageId"], match["outcome"], match["apps"]) == (
        "inbound",
        ses_id,
        "delivered",
        ["app1"],
    )
    events = match["events"]
    assert isinstance(events, list)
    assert events[0]["step"] == "received"
    assert any(e["step"] == "delivered" and e["app"] == "app1" for e in events)
    stored = match["stored"]
    assert isinstance(stored, dict)
    assert stored["record"]["status"] == "COMPLETED"
    assert stored["record"]["done"] == ["app1"]
    assert stored["raw"] == {"key": f"raw/{ses_id}", "present": True, "bytes": stored["raw"]["bytes"],
                             "lastModified": stored["raw"]["lastModified"]}  # fmt: skip
    unknown = emulated.mailflow("trace", "no-such-email", "--local", "--since", "1h")
    assert unknown.returncode == 1
    said = " ".join(unknown.stderr.split())  # stderr is folded at the terminal width
    assert (
        "No email matches 'no-such-email' (FilterLogEvents on /aws/lambda/mailflow-dev-handler, last 1h)"
        in said
    )


def test_doctor_against_the_emulator(emulated: Emulated) -> None:
    result = emulated.mailflow("doctor", "--local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["rule set"]["status"] == "ok"
    assert checks["rule"]["detail"] == "mailflow-dev-inbound is enabled for example.com"
    assert checks["example.com verified"]["status"] == "ok"
    assert checks["inbound DLQ"]["status"] == "ok"
    assert report["counts"]["fail"] == 0
    assert report["skipped"] == ["DNS checks (--local: the emulator receives mail without DNS)"]


def test_replay_plans_the_emulators_raw_mail(emulated: Emulated) -> None:
    ses_id = _send(emulated, "_billing@example.com")  # no such app: the default queue
    _traced(emulated, ses_id)
    result = emulated.mailflow("replay", "--since", "10m", "--dry-run", "--local", "--json")
    report = json.loads(result.stdout)
    assert report["emails"] >= 1
    assert report["counts"]["deliver"] == 0  # every email in the window reached all of its current targets
    assert report["perApp"] == {}
    assert result.returncode == (1 if report["counts"]["cannot replay"] else 0)
