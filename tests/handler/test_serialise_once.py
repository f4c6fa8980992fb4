"""P1/P2: each target's SQS body is measured once and the shared email section is serialised once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailflow_handler.config import parse_config
from mailflow_handler.inbound import builder
from mailflow_handler.inbound import message as msg
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
    real = builder._size

    def counting(text: str) -> int:
        measured.append(len(text))
        return real(text)

    monkeypatch.setattr(builder, "_size", counting)
    deps = fake_deps(CONFIG)
    raw = simple_mime(body="\u00e9" * 20_000, to=", ".join(TWO_APPS))
    process(raw, ses_record("p1-once", TWO_APPS), deps)
    assert len(deps.sqs.sent) == 2
    # Nothing as long as a body is measured more than once per target.
    big = [n for n in measured if n >= 20_000]
    assert len(big) <= len(deps.sqs.sent)


def _count_email_serialisations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every dict given to the serialiser that is an email section or that contains one."""
    calls: list[dict[str, Any]] = []
    real = msg.serialise

    def counting(message: dict[str, Any]) -> str:
        calls.append(message)
        return real(message)

    monkeypatch.setattr(msg, "serialise", counting)
    return calls


def _email_sections(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert not any("email" in c for c in calls), "a whole message (with its email section) was serialised"
    return [c for c in calls if "parseDefects" in c]


def test_p2_two_app_email_serialises_the_email_section_once(
    monkeypatch: pytest.MonkeyPatch, inbound_validator: Any
) -> None:
    calls = _count_email_serialisations(monkeypatch)
    deps = fake_deps(CONFIG)
    # Non-ASCII and a character outside XML's legal set (U+FFFE), which serialise() escapes.
    raw = simple_mime(subject="Gr\u00fc\u00dfe", body="caf\u00e9 \ufffe \U0001f600", to=", ".join(TWO_APPS))
    result = process(raw, ses_record("p2-once", TWO_APPS), deps)
    assert result.delivered == ["app1", "app2"]
    sections = _email_sections(calls)
    assert len(sections) == 1
    assert sections[0]["claimCheck"] is None
    documents = []
    for (_, body), sent in zip(deps.sqs.sent, result.sent, strict=True):
        assert "\ufffe" not in body
        assert "\\ufffe" in body
        document = json.loads(body)
        inbound_validator.validate(document)
        # Byte for byte what serialising the whole message at once writes.
        assert body == msg.serialise(document)
        assert sent["bytes"] == len(body.encode("utf-8"))
        documents.append(document)
    assert [d["app"] for d in documents] == ["app1", "app2"]
    assert documents[0]["id"] != documents[1]["id"]
    assert documents[0]["email"] == documents[1]["email"]
    assert "\ufffe" in documents[0]["email"]["text"]


def test_p2_two_app_claim_check_serialises_each_section_once(
    monkeypatch: pytest.MonkeyPatch, inbound_validator: Any
) -> None:
    calls = _count_email_serialisations(monkeypatch)
    config = parse_config(make_config(limits={"sqsMaxMessageBytes": 8192}))
    deps = fake_deps(config)
    raw = simple_mime(body="x" * 20_000, to=", ".join(TWO_APPS))
    result = process(raw, ses_record("p2-claim", TWO_APPS), deps)
    assert result.delivered == ["app1", "app2"]
    assert result.claim_check
    sections = _email_sections(calls)
    # The full section once (found too large for the first target), then each target's small claimed
    # section (its claim check names that app's document: contract C1).
    assert [s["claimCheck"] is None for s in sections] == [True, False, False]
    assert sorted(key for _, key in deps.s3.objects) == [
        "claims/app1/p2-claim.json",
        "claims/app2/p2-claim.json",
    ]
    for (_, body), app in zip(deps.sqs.sent, ["app1", "app2"], strict=True):
        document = json.loads(body)
        inbound_validator.validate(document)
        assert body == msg.serialise(document)
        assert document["email"]["claimCheck"]["s3Key"] == f"claims/{app}/p2-claim.json"
        assert document["email"]["text"] is None


@pytest.mark.parametrize(
    "message",
    [
        {"a": 1, "email": {"x": "\u00e9\ud800"}, "b": [2]},
        {"email": {"x": 1}, "b": "\ufffe"},
        {"a": None, "email": []},
        {"email": "only"},
    ],
)
def test_p2_serialise_around_splices_to_the_same_bytes(message: dict[str, Any]) -> None:
    prefix, suffix = msg.serialise_around(message)
    assert prefix + msg.serialise(message["email"]) + suffix == msg.serialise(message)


def test_p2_serialise_around_needs_the_key() -> None:
    with pytest.raises(KeyError):
        msg.serialise_around({"a": 1})


def test_p2_single_target_is_serialised_whole_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_email_serialisations(monkeypatch)
    deps = fake_deps(CONFIG)
    result = process(simple_mime(), ses_record("p2-single", ["_app1@example.com"]), deps)
    assert result.delivered == ["app1"]
    # Nothing is shared, so there is nothing to splice: one serialisation, of the whole message.
    assert len(calls) == 1
    assert calls[0]["app"] == "app1"
    ((_, body),) = deps.sqs.sent
    assert body == msg.serialise(json.loads(body))
