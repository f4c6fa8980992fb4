"""Property-based tests: random and mutated MIME never escapes the pipeline; the header guard holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow_handler.config import parse_config
from mailflow_handler.inbound.parse import parse
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.outbound.compose import compose
from mailflow_handler.outbound.validate import ValidationError, contains_injection, validate
from mailflow_handler.testing import fake_deps

from .conftest import CORPUS, make_config, ses_record, validator

SEEDS = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))[:40] if p.stat().st_size < 20000]
CONFIG = parse_config(make_config())
INBOUND = validator("inbound-email.schema.json")
FAILURE = validator("inbound-failure.schema.json")
NEEDS_AWS = False
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == 0 and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(
                st.sampled_from(
                    [b"\r\n", b"\n\n", b"--", b"=?utf-8?q?=0D=0A?=", b":", b"\x00", b"<", b'"', b";"]
                )
            )
        elif op == 2:
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(max_size=64))
    return bytes(data)


def run_pipeline(raw: bytes) -> None:
    deps = fake_deps(CONFIG)
    result = process(raw, ses_record("prop-1", ["_app1@example.com"]), deps)
    assert len(deps.sqs.sent) == 1
    url, body = deps.sqs.sent[0]
    document = json.loads(body)
    if result.dead_lettered:
        assert url.endswith("inbound-dlq")
        FAILURE.validate(document)
    else:
        assert result.delivered == ["app1"]
        INBOUND.validate(document)
    assert body.encode("utf-8")


@SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes_never_escape(raw: bytes) -> None:
    run_pipeline(raw)


@SETTINGS
@given(mutated())
def test_mutated_corpus_never_escapes(raw: bytes) -> None:
    run_pipeline(raw)


@SETTINGS
@given(st.text(max_size=300), st.text(max_size=300))
def test_parse_of_random_headers(name: str, value: str) -> None:
    raw = f"{name}: {value}\r\nTo: {value}\r\nSubject: {value}\r\n\r\nbody".encode("utf-8", "surrogatepass")
    parsed = parse(raw, 262144, 65536)
    json.dumps(parsed.defects)


unsafe_text = st.lists(
    st.sampled_from([*"ab =?_QqBb:\r\n\x00\t", "=0D", "=0A", "DQo", "utf-8", "=?utf-8?q?", "?="]), max_size=40
).map("".join)


@SETTINGS
@given(st.one_of(st.text(max_size=200), unsafe_text))
def test_header_guard_on_random_strings(value: str) -> None:
    doc: dict[str, Any] = {
        "correlationId": "p",
        "source": "app1",
        "email": {
            "from": {"address": "_app1@example.com", "name": value},
            "to": [{"address": "a@example.net", "name": value}],
            "subject": value,
            "body": {"text": "x"},
            "headers": {"X-Prop": value},
        },
    }
    try:
        request = validate(doc, 50)
    except ValidationError:
        return
    assert not contains_injection(value)
    raw = compose(request, [])
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [
        line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line and line[:1] not in b" \t"
    ]
    assert b"bcc" not in names
    assert len(names) == len(set(names))


def test_seeds_loaded() -> None:
    assert len(SEEDS) >= 20
    assert all(isinstance(s, bytes) for s in SEEDS)
    assert Path(CORPUS).exists()
