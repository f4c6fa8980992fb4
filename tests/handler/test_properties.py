"""Property-based tests: random and mutated MIME never escapes the pipeline; the header guard holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow_handler.config import parse_config
from mailflow_handler.inbound.parse import parse
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.outbound.compose import compose
from mailflow_handler.outbound.validate import ValidationError, contains_injection, validate
from mailflow_handler.testing import fake_deps

from .conftest import CORPUS, make_config, ses_record, validator
from .test_inbound_limits import many_parts, nested_digests, nested_messages, nested_multipart

SEEDS = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))[:40] if p.stat().st_size < 20000]
CONFIG = parse_config(make_config())
INBOUND = validator("inbound-email.schema.json")
NEEDS_AWS = False
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
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


LIMIT_REASONS = {"too_many_parts", "too_deep", "too_many_attachments", "decoded_too_large"}


def run_pipeline(raw: bytes) -> str | None:
    """The email ends in exactly one place: app1's queue, or quarantine for a limit (never the DLQ: an
    exception escaping the parser would dead-letter it as internal_error). Returns the limit hit."""
    deps = fake_deps(CONFIG)
    deps.s3.objects[(CONFIG.bucket, "raw/prop-1")] = raw
    result = process(raw, ses_record("prop-1", ["_app1@example.com"]), deps)
    assert not result.dead_lettered, deps.sqs.sent
    if result.quarantined:
        assert result.quarantined == ["app1"]
        assert deps.sqs.sent == []
        record = json.loads(deps.s3.objects[(CONFIG.bucket, "quarantine/prop-1.json")])
        assert record["reasons"]["app1"] in LIMIT_REASONS
        return str(record["reasons"]["app1"])
    assert result.delivered == ["app1"]
    ((_, body),) = deps.sqs.sent
    INBOUND.validate(json.loads(body))
    assert body.encode("utf-8")
    return None


@SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes_never_escape(raw: bytes) -> None:
    run_pipeline(raw)


@SETTINGS
@given(mutated())
def test_mutated_corpus_never_escapes(raw: bytes) -> None:
    run_pipeline(raw)


HOSTILE_SEEDS = [
    nested_multipart(40),
    nested_multipart(40, "\n"),
    nested_messages(40),
    nested_digests(40),
    many_parts(1_001),
    many_parts(101, attachment=True),
]


@SETTINGS
@given(mutated(HOSTILE_SEEDS))
def test_mutated_hostile_structures_never_escape(raw: bytes) -> None:
    run_pipeline(raw)


EOLS = st.sampled_from(["\r\n", "\n", "\r"])
LEAVES = [
    "Content-Type: text/plain\n\nhello\n",
    'Content-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"\n\n%PDF\n',
    "\nno headers\n",
]


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0) -> str:
    """A random MIME entity: leaves, multiparts (digest ones with default-typed children, reused
    boundaries, missing close delimiters), message/rfc822 and delivery-status wrappers, up to 60 deep."""
    kind = draw(st.sampled_from(["leaf", "multipart", "message", "status"] if depth < 60 else ["leaf"]))
    if kind == "leaf":
        return draw(st.sampled_from(LEAVES))
    if kind == "message":
        return "Content-Type: message/rfc822\n\n" + draw(mime_tree(depth + 1))
    if kind == "status":
        return "Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nAction: failed\n"
    subtype = draw(st.sampled_from(["mixed", "alternative", "digest"]))
    boundary = draw(st.sampled_from(["b", f"b{depth}", f"b{depth % 3}"]))
    children = draw(st.lists(mime_tree(depth + 1), min_size=1, max_size=3))
    if depth == 0 and sum(map(len, children)) < 2_000 and draw(st.booleans()):
        children *= 400  # many copies: over the part limit
    body = "".join(f"--{boundary}\n{child}\n" for child in children)
    closing = draw(st.sampled_from([f"--{boundary}--\n", ""]))
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n{body}{closing}'


def _tree_shape(raw: bytes) -> tuple[int, int]:
    """(parts, depth) of the stdlib's parse, which recurses once per level: given the stack it needs."""
    from email._policybase import compat32
    from email.parser import BytesParser

    root = BytesParser(policy=compat32).parsebytes(raw)
    parts, deepest, stack = 0, 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        parts += 1
        deepest = max(deepest, depth)
        payload = node.get_payload()
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload)
    return parts, deepest


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(mime_tree(), EOLS)
def test_generated_structures_hit_exactly_the_limits_they_exceed(tree: str, eol: str) -> None:
    raw = ("From: a@sender.org\nTo: _app1@example.com\nSubject: s\n" + tree).replace("\n", eol).encode()
    limit = run_pipeline(raw)
    parts, depth = _tree_shape(raw)
    limits = CONFIG.limits
    if parts <= limits.max_parts and depth <= limits.max_depth:
        assert limit not in ("too_many_parts", "too_deep")
    if limit == "too_deep":
        assert depth > limits.max_depth
    if limit == "too_many_parts":
        assert parts > limits.max_parts


@SETTINGS
@given(st.text(max_size=300), st.text(max_size=300))
def test_parse_of_random_headers(name: str, value: str) -> None:
    raw = f"{name}: {value}\r\nTo: {value}\r\nSubject: {value}\r\n\r\nbody".encode("utf-8", "surrogatepass")
    parsed = parse(raw)
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


BAD_CHARSETS = ['charset="utf\x00-8"', "charset*=utf-8''x", "charset*0=ut; charset*1=f-8", 'charset="\udcff"']


@pytest.mark.parametrize("charset", BAD_CHARSETS)
@pytest.mark.parametrize("where", ["top", "body", "attachment", "embedded", "partial"])
def test_charset_parameters_that_break_the_stdlib_never_escape(charset: str, where: str) -> None:
    """Found by the fuzzer: Message.get_payload() decodes 8-bit text with the charset parameter and
    raises ValueError (a NUL) or TypeError (an RFC 2231 tuple) doing so."""
    leaf = f"Content-Type: text/plain; {charset}\n\ncaf\xe9 \xff\n"
    if where == "attachment":
        leaf = f"Content-Type: application/octet-stream; {charset}\nContent-Disposition: attachment\n\n\xe9\n"
    head = "From: a@sender.org\nTo: _app1@example.com\nSubject: s\n"
    wrapped = {
        "top": head + leaf,
        "body": head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\n' + leaf + "--b--\n",
        "attachment": head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\n' + leaf + "--b--\n",
        "embedded": head + "Content-Type: message/rfc822\n\nSubject: inner\n" + leaf,
        "partial": head + "Content-Type: message/partial\n\nSubject: inner\n" + leaf,
    }[where]
    raw = (
        wrapped.encode("utf-8", "surrogateescape")
        .replace("\xe9".encode(), b"\xe9")
        .replace("\xff".encode(), b"\xff")
    )
    assert run_pipeline(raw) is None
