"""P1/P2: each target's SQS body is measured once and the shared email section is serialised once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailflow_handler.config import parse_config
from mailflow_handler.inbound import pipeline
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.testing import fake_deps

from .conftest import make_config, ses_record, simple_mime

NEEDS_AWS = False
CONFIG = parse_config(make_config())
TWO_APPS = ["_app1@example.com", "_app2@example.com"]


def _log_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "inbound email"]


def test_p1_logged_message_bytes_are_the_utf8_sizes_of_the_sent_bodies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deps = fake_deps(CONFIG)
    raw = simple_mime(
        subject="Gr\u00fc\u00dfe \U0001f44b", body="\u00e9t\u00e9 \u2603 " * 50, to=", ".join(TWO_APPS)
    )
    result = process(raw, ses_record("p1-sizes", TWO_APPS), deps)
    assert result.delivered == ["app1", "app2"]
    bodies = [body for _, body in deps.sqs.sent]
    assert not any(body.isascii() for body in bodies)
    expected = [len(body.encode("utf-8")) for body in bodies]
    assert [s["bytes"] for s in result.sent] == expected
    (line,) = _log_lines(capsys.readouterr().out)
    assert line["messageBytes"] == expected


def test_p1_each_body_is_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[int] = []
    real = pipeline._size

    def counting(text: str) -> int:
        measured.append(len(text))
        return real(text)

    monkeypatch.setattr(pipeline, "_size", counting)
    deps = fake_deps(CONFIG)
    raw = simple_mime(body="\u00e9" * 20_000, to=", ".join(TWO_APPS))
    process(raw, ses_record("p1-once", TWO_APPS), deps)
    assert len(deps.sqs.sent) == 2
    # Nothing as long as a body is measured more than once per target.
    big = [n for n in measured if n >= 20_000]
    assert len(big) <= len(deps.sqs.sent)
