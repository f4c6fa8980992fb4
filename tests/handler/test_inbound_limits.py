"""Finding 5: inbound work is bounded before anything is stored, and no input raises out of the parser.

Over-limit mail (parts, nesting, attachments, decoded bytes) is quarantined with a reason, with no
attachment upload, no tag on the raw object and no app message; headers of attached messages are capped.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest

from mailflow_handler import handler
from mailflow_handler.config import ConfigError, InboundLimits, parse_config
from mailflow_handler.inbound import attachments as attachments_mod
from mailflow_handler.inbound import parse as parse_mod
from mailflow_handler.inbound.mime import LimitExceeded
from mailflow_handler.inbound.parse import parse
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.testing import FakeS3, fake_deps

from .conftest import BUCKET, Env, make_config, ses_event, ses_record

CONFIG = parse_config(make_config())
HEAD = "From: a@sender.org\r\nTo: _app1@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"


class CountingS3(FakeS3):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def put_object(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(f"PutObject {kw['Key']}")
        return super().put_object(**kw)

    def copy_object(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(f"CopyObject {kw['Key']}")
        return super().copy_object(**kw)

    def put_object_tagging(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(f"PutObjectTagging {kw['Key']}")
        return super().put_object_tagging(**kw)


def run(raw: bytes, config: Any = CONFIG, ses_id: str = "limits-1") -> tuple[Any, CountingS3, Any]:
    deps = fake_deps(config)
    s3 = CountingS3()
    s3.objects[(BUCKET, f"raw/{ses_id}")] = raw  # the quarantine copies it
    deps.s3 = s3
    result = process(raw, ses_record(ses_id, ["_app1@example.com"]), deps)
    return result, s3, deps


def quarantine_reason(s3: FakeS3, ses_id: str = "limits-1") -> str:
    record = json.loads(s3.objects[(BUCKET, f"quarantine/{ses_id}.json")])
    return str(record["reasons"]["app1"])


def assert_quarantined_untouched(result: Any, s3: CountingS3, deps: Any, reason: str) -> None:
    """Quarantined with `reason`; the only S3 writes are the quarantine's own two."""
    assert result.quarantined == ["app1"]
    assert result.delivered == []
    assert not result.dead_lettered
    assert quarantine_reason(s3) == reason
    assert s3.calls == ["CopyObject quarantine/limits-1.eml", "PutObject quarantine/limits-1.json"]
    assert deps.sqs.sent == []


def many_parts(count: int, *, attachment: bool = False) -> bytes:
    disposition = 'Content-Disposition: attachment; filename="f.bin"\r\n' if attachment else ""
    part = f"--b\r\nContent-Type: application/octet-stream\r\n{disposition}\r\nx\r\n"
    body = HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + part * count + "--b--\r\n"
    return body.encode()


def nested_multipart(depth: int, eol: str = "\r\n") -> bytes:
    parts = [HEAD + 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for i in range(1, depth):
        parts.append(f'--b{i - 1}\r\nContent-Type: multipart/mixed; boundary="b{i}"\r\n\r\n')
    parts.append(f"--b{depth - 1}\r\nContent-Type: text/plain\r\n\r\nbottom\r\n")
    parts.extend(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return "".join(parts).replace("\r\n", eol).encode()


def nested_messages(depth: int) -> bytes:
    """message/rfc822 inside message/rfc822 ...: no boundaries at all."""
    return (HEAD + "Content-Type: message/rfc822\r\n\r\n" * depth + "\r\nbottom\r\n").encode()


def nested_digests(depth: int) -> bytes:
    """multipart/digest parts default to message/rfc822, so nesting needs no Content-Type per level."""
    parts = [HEAD + 'Content-Type: multipart/digest; boundary="d0"\r\n\r\n']
    for i in range(1, depth):
        parts.append(f'--d{i - 1}\r\n\r\nContent-Type: multipart/digest; boundary="d{i}"\r\n\r\n')
    return "".join(parts).encode()


def nested_without_blank_lines(depth: int) -> bytes:
    """A header block ends at the first non-header line, so nesting needs no blank lines either."""
    parts = [HEAD + 'Content-Type: multipart/mixed; boundary="b0"\r\n']
    parts += [f'--b{i - 1}\r\nContent-Type: multipart/mixed; boundary="b{i}"\r\n' for i in range(1, depth)]
    return "".join(parts).encode()


def message_depth(raw: bytes) -> int:
    """Nesting depth of the parsed tree (the message itself is 0)."""
    stack = [(parse_mod_tree(raw), 0)]
    deepest = 0
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload)
    return deepest


def parse_mod_tree(raw: bytes) -> Any:
    from email._policybase import compat32
    from email.parser import BytesParser

    return BytesParser(policy=compat32).parsebytes(raw)


# Parts ------------------------------------------------------------------------------------------


def test_100k_parts_are_quarantined_before_any_upload() -> None:
    raw = many_parts(100_000)  # the review's 5 MB case: 100,001 PutObject calls before
    result, s3, deps = run(raw)
    assert_quarantined_untouched(result, s3, deps, "too_many_parts")


@pytest.mark.parametrize(("count", "outcome"), [(999, "delivered"), (1000, "quarantined")])
def test_the_part_limit_is_exact(count: int, outcome: str) -> None:
    # The message (a multipart) and its `count` leaves: 1000 parts is the limit.
    limits = InboundLimits(max_attachments=10_000)
    config = parse_config(make_config(limits={"maxAttachments": 10_000}))
    parsed = parse(many_parts(count), limits)
    assert (parsed.over_limit is None) == (outcome == "delivered")
    result, _, _ = run(many_parts(count), config)
    assert result.outcome == outcome


def with_big_attachment(inner: bytes) -> bytes:
    """`inner` (a message whose body is a multipart) as the second part of a message whose first part
    is a 540 KB base64 attachment: the large-body fast path parses a skeleton with `inner` in it."""
    big = base64.encodebytes(b"\0" * 400_000).decode().replace("\n", "\r\n")
    inner_body = inner.partition(b"MIME-Version: 1.0\r\n")[2]
    return (
        (HEAD + 'Content-Type: multipart/mixed; boundary="top"\r\n\r\n').encode()
        + b"--top\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + big.encode()
        + b"--top\r\n"
        + inner_body
        + b"\r\n--top--\r\n"
    )


@pytest.mark.parametrize(
    ("inner", "reason"),
    [(many_parts(5_000), "too_many_parts"), (nested_multipart(2_000), "too_deep")],
    ids=["parts", "depth"],
)
def test_limits_hold_on_the_large_body_fast_path(
    monkeypatch: pytest.MonkeyPatch, inner: bytes, reason: str
) -> None:
    from mailflow_handler.inbound import bigparse

    monkeypatch.setattr(parse_mod, "FAST_MIN_MESSAGE", 0)
    refused: list[str] = []
    real = bigparse.fast_parse

    def spy(*args: Any) -> Any:
        try:
            return real(*args)
        except LimitExceeded as exceeded:
            refused.append(exceeded.reason)
            raise

    monkeypatch.setattr(bigparse, "fast_parse", spy)
    result, s3, deps = run(with_big_attachment(inner))
    assert refused == [reason]  # the skeleton's parse stopped at the limit
    assert_quarantined_untouched(result, s3, deps, reason)


# Nesting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        nested_multipart(1_000),  # the review's 70 KB case: RecursionError -> DLQ before
        nested_multipart(1_000, "\n"),
        nested_multipart(1_000, "\r"),
        nested_multipart(50_000),
        nested_messages(5_000),
        nested_digests(5_000),
        nested_without_blank_lines(5_000),
    ],
    ids=["multipart-crlf", "multipart-lf", "multipart-cr", "multipart-50k", "rfc822", "digest", "no-blank"],
)
def test_deep_nesting_of_any_kind_is_quarantined_as_too_deep(raw: bytes) -> None:
    result, s3, deps = run(raw)
    assert_quarantined_untouched(result, s3, deps, "too_deep")


@pytest.mark.parametrize("build", [nested_multipart, nested_messages])
def test_the_depth_limit_is_exact(build: Any) -> None:
    limit = InboundLimits().max_depth
    deepest_allowed = next(n for n in range(1, 200) if message_depth(build(n)) == limit)
    assert parse(build(deepest_allowed)).over_limit is None
    refused = parse(build(deepest_allowed + 1)).over_limit
    assert refused is not None
    assert refused.reason == "too_deep"


def test_deep_nesting_through_the_lambda_path_is_quarantined(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(nested_multipart(2_000))
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert aws_env.drain("inboundDlq") == []
    assert aws_env.drain("app1") == []
    (record,) = aws_env.quarantine_records()
    assert record["reasons"] == {"app1": "too_deep"}
    assert aws_env.s3.get_object_tagging(Bucket=BUCKET, Key=f"raw/{ses_id}")["TagSet"] == []


# Attachments and decoded bytes ------------------------------------------------------------------


def test_too_many_attachments_are_quarantined_before_any_upload() -> None:
    result, s3, deps = run(many_parts(101, attachment=True))
    assert_quarantined_untouched(result, s3, deps, "too_many_attachments")
    result, _, _ = run(many_parts(100, attachment=True))
    assert result.delivered == ["app1"]


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "7bit"])
def test_decoded_bytes_over_the_limit_are_quarantined(cte: str) -> None:
    payload = base64.encodebytes(b"a" * 30_000).decode() if cte == "base64" else "a" * 40_000
    raw = (
        HEAD
        + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + f"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        + payload
        + "\r\n--b--\r\n"
    ).encode()
    small = parse_config(make_config(limits={"maxDecodedBytes": 20_000}))
    result, s3, deps = run(raw, small)
    assert_quarantined_untouched(result, s3, deps, "decoded_too_large")
    roomy = parse_config(make_config(limits={"maxDecodedBytes": 60_000}))
    assert run(raw, roomy)[0].delivered == ["app1"]


def test_body_text_counts_towards_the_decoded_bytes() -> None:
    raw = (HEAD + "Content-Type: text/plain\r\n\r\n" + "x" * 30_000).encode()
    small = parse_config(make_config(limits={"maxDecodedBytes": 20_000}))
    result, s3, deps = run(raw, small)
    assert_quarantined_untouched(result, s3, deps, "decoded_too_large")


# Headers of attached messages --------------------------------------------------------------------


def attached_with_from(from_value: str, count: int = 1) -> bytes:
    inner = f"From: {from_value}\r\nSubject: inner\r\n\r\nbody\r\n"
    part = f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}"
    return (
        HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + part * count + "--b--\r\n"
    ).encode()


def test_embedded_header_work_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 8 MB From in an attached message (7.9 s of CPU before) costs no more than the cap."""
    seen: list[int] = []
    real = parse_mod.getaddresses

    def counting(values: list[str]) -> Any:
        seen.append(sum(len(v) for v in values))
        return real(values)

    monkeypatch.setattr(parse_mod, "getaddresses", counting)
    huge = ", ".join(f"user{i}@example.com" for i in range(400_000))  # ~8 MB
    parsed = parse(attached_with_from(huge))
    limits = InboundLimits()
    assert parsed.over_limit is None
    assert sum(seen) <= limits.max_header_bytes + limits.max_embedded_header_bytes
    assert max(seen) <= limits.max_header_field_bytes
    assert "embedded_header_field_truncated:From" in parsed.defects
    assert parsed.embedded_messages[0]["from"] == {"address": "user0@example.com", "name": None}


def test_embedded_header_budget_is_per_email(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = parse_mod.getaddresses
    monkeypatch.setattr(parse_mod, "getaddresses", lambda v: (seen.append(sum(map(len, v))), real(v))[1])
    big_from = ", ".join(f"user{i}@example.com" for i in range(3_000))  # ~60 KB, under the field cap
    parsed = parse(attached_with_from(big_from, count=200), InboundLimits(max_attachments=1_000))
    assert parsed.over_limit is None
    assert len(parsed.embedded_messages) == 200
    assert sum(seen) <= InboundLimits().max_header_bytes + InboundLimits().max_embedded_header_bytes
    assert "embedded_header_block_truncated" in parsed.defects
    assert parsed.embedded_messages[0]["from"]["address"] == "user0@example.com"
    assert parsed.embedded_messages[-1]["from"] is None


# Uploads ------------------------------------------------------------------------------------------


def test_attachments_are_uploaded_concurrently_with_a_bounded_pool() -> None:
    in_flight = 0
    most = 0
    lock = threading.Lock()
    two_at_once = threading.Barrier(2, timeout=10)

    class SlowS3(FakeS3):
        def put_object(self, **kw: Any) -> dict[str, Any]:
            nonlocal in_flight, most
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            try:
                if kw["Key"].startswith("attachments/"):
                    two_at_once.wait()  # raises BrokenBarrierError if uploads were sequential
                return super().put_object(**kw)
            finally:
                with lock:
                    in_flight -= 1

    deps = fake_deps(CONFIG)
    deps.s3 = SlowS3()
    raw = many_parts(20, attachment=True)
    result = process(raw, ses_record("upload-1", ["_app1@example.com"]), deps)
    assert result.delivered == ["app1"]
    assert result.attachments == 20
    assert 2 <= most <= attachments_mod.UPLOAD_WORKERS
    keys = sorted(k for _, k in deps.s3.objects if k.startswith("attachments/"))
    assert len(keys) == 20


# Configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("maxParts", 0),
        ("maxDepth", 101),
        ("maxAttachments", -1),
        ("maxDecodedBytes", "1"),
        ("maxDepth", True),
    ],
)
def test_limits_must_be_positive_integers_within_bounds(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"limits.{key}"):
        parse_config(make_config(limits={key: value}))


def test_limits_have_documented_defaults() -> None:
    limits = parse_config(make_config(limits={})).limits
    assert limits == InboundLimits(
        max_header_bytes=262_144,
        max_header_field_bytes=65_536,
        max_parts=1_000,
        max_attachments=100,
        max_decoded_bytes=41_943_040,
        max_depth=32,
        max_embedded_header_bytes=262_144,
    )


# Every email ends in exactly one visible place, also across attempts.


def test_a_route_refused_after_an_earlier_quarantine_is_still_quarantined(aws_env: Env) -> None:
    """An earlier attempt (older code, other limits) wrote the quarantine; the content now refuses the
    route that was to be delivered: the quarantine is written again with it, nothing is lost."""
    import time

    ses_id = aws_env.put_raw(nested_multipart(100))
    later = str(int(time.time()) + 3600)
    aws_env.ddb.put_item(
        TableName="mf-idempotency",
        Item={
            "id": {"S": f"inbound#{ses_id}"},
            "status": {"S": "PARTIAL"},
            "expiration": {"N": later},
            "data": {"S": json.dumps({"done": ["@quarantine"], "sqsMessageIds": {}})},
            "data_expiration": {"N": later},
        },
    )
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    assert aws_env.drain("app1") == []
    (record,) = aws_env.quarantine_records()
    assert record["reasons"] == {"app1": "too_deep"}


def test_a_missing_raw_mail_names_every_target_not_yet_done(aws_env: Env) -> None:
    # app3's sender is refused before the message is read (DMARC FAIL, envelope domain not listed).
    handler(ses_event(ses_record("gone", ["_app1@example.com", "_app3@example.com"], dmarc="FAIL")), None)
    (failure,) = aws_env.drain("inboundDlq")
    assert failure["reason"] == "raw_missing"
    assert sorted(failure["targets"]) == ["app1", "app3"]
