"""The large-body fast path in inbound/parse.py must give exactly what the plain feed-parser path gives:
the same email JSON, text bodies, parse defects and attachment bytes (sha256/size) for every message."""

from __future__ import annotations

import base64
import hashlib
import json
import quopri
import random
from pathlib import Path
from typing import Any

import pytest

from mailflow_handler.config import InboundLimits
from mailflow_handler.inbound import bigparse
from mailflow_handler.inbound import message as msg
from mailflow_handler.inbound import parse as parse_mod
from mailflow_handler.inbound.attachments import store_attachments

from .conftest import CORPUS

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md")


class _S3:
    def __init__(self) -> None:
        self.objects: list[tuple[str, str, int]] = []

    def put_object(self, **kw: Any) -> None:
        body = kw["Body"]
        self.objects.append((kw["Key"], hashlib.sha256(body).hexdigest(), len(body)))


def _outcome(raw: bytes) -> tuple[str, list[tuple[str, str, int]]]:
    parsed = parse_mod.parse(raw)
    s3 = _S3()
    described = store_attachments(
        parsed.attachments,
        s3,
        bucket="bucket",
        prefix="att/",
        ses_message_id="ses-1",
        apps=["a"],
        app_slot="a",
    )
    email = msg.email_section(parsed, described)
    return json.dumps(email, sort_keys=True, ensure_ascii=False), sorted(s3.objects)


def _both(raw: bytes, monkeypatch: pytest.MonkeyPatch, min_body: int) -> tuple[Any, Any, bool]:
    taken: list[bool] = []
    real = bigparse.fast_parse

    def spy(*args: Any) -> Any:
        result = real(*args)
        taken.append(result is not None)
        return result

    with monkeypatch.context() as m:
        m.setattr(parse_mod, "FAST_MIN_MESSAGE", 1 << 62)
        plain = _outcome(raw)
    with monkeypatch.context() as m:
        m.setattr(parse_mod, "FAST_MIN_MESSAGE", 0)
        m.setattr(bigparse, "FAST_MIN_BODY", min_body)
        m.setattr(bigparse, "fast_parse", spy)
        fast = _outcome(raw)
    return plain, fast, any(taken)


@pytest.mark.parametrize("min_body", [0, 64, 1024])
def test_corpus_fast_path_matches_plain_path(monkeypatch: pytest.MonkeyPatch, min_body: int) -> None:
    assert len(FILES) >= 390
    fast_count = 0
    for path in FILES:
        raw = path.read_bytes()
        plain, fast, taken = _both(raw, monkeypatch, min_body)
        assert fast == plain, path.name
        fast_count += taken
    # The comparison is only meaningful if the fast path really ran on a good share of the corpus.
    assert fast_count >= (100 if min_body <= 64 else 10), fast_count


def _b64(data: bytes, nl: bytes) -> bytes:
    text = base64.b64encode(data)
    return nl.join(text[i : i + 76] for i in range(0, len(text), 76)) + nl


def _big(nl: bytes, variant: str) -> bytes:
    rnd = random.Random(variant)
    payload = rnd.randbytes(300_000)
    head = nl.join(
        [
            b"From: Sender <s@outside.example>",
            b"To: _app1@example.com",
            b"Subject: big " + variant.encode(),
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="BIG"',
            b"",
            b"",
        ]
    )
    text = nl.join([b"--BIG", b"Content-Type: text/plain; charset=utf-8", b"", b"See it.", b""])
    attach = nl.join(
        [
            b"--BIG",
            b"Content-Type: application/octet-stream",
            b'Content-Disposition: attachment; filename="big.bin"',
            b"Content-Transfer-Encoding: base64",
            b"",
            b"",
        ]
    )
    body = _b64(payload, nl)
    cut = body.index(nl, 1000) + len(nl)  # a line start inside the body
    tail = b"--BIG--" + nl
    if variant == "plain":
        return head + text + attach + body + tail
    if variant == "preamble_epilogue":
        return head + b"preamble" + nl + text + attach + body + tail + b"epilogue" + nl + b"--BIG" + nl
    if variant == "bad_padding":
        return head + text + attach + body[:-5] + nl + tail
    if variant == "lookalike":  # a line that looks like (but is not) the boundary inside the body
        return head + text + attach + body[:cut] + b"--BIGGER" + nl + body[cut:] + tail
    if variant == "real_boundary_inside":
        return head + text + attach + body[:cut] + b"--BIG" + nl + body[cut:] + tail
    if variant == "lone_cr":
        return head + text + attach + body[:cut] + b"\r--BIG" + nl + body[cut:] + tail
    if variant == "no_close":
        return head + text + attach + body
    if variant == "no_boundary_param":
        return head.replace(b'; boundary="BIG"', b"") + text + attach + body + tail
    if variant == "non_ascii":
        return head + text + attach + body[:500] + b"\xe9\xff" + body[500:] + tail
    if variant == "qp_text":
        qp = quopri.encodestring(("Gr\u00fc\u00dfe " * 40_000).encode("utf-8")).replace(b"\n", nl)
        return (
            head
            + nl.join([b"--BIG", b"Content-Type: text/plain; charset=utf-8"])
            + nl
            + b"Content-Transfer-Encoding: quoted-printable"
            + nl
            + nl
            + qp
            + nl
            + attach
            + body
            + tail
        )
    if variant == "html_8bit":
        html = b"<p>" + ("caf\u00e9 " * 80_000).encode("utf-8") + b"</p>" + nl
        return (
            head
            + nl.join(
                [b"--BIG", b"Content-Type: text/html; charset=utf-8", b"Content-Transfer-Encoding: 8bit"]
            )
            + nl
            + nl
            + html
            + tail
        )
    if variant == "nested":
        inner = nl.join(
            [b"--IN", b"Content-Type: application/pdf", b"Content-Transfer-Encoding: base64", b""]
        )
        return (
            head
            + text
            + b'--BIG\r\nContent-Type: multipart/related; boundary="IN"'.replace(b"\r\n", nl)
            + nl
            + nl
            + inner
            + nl
            + body
            + b"--IN--"
            + nl
            + attach
            + body
            + tail
        )
    if variant == "rfc822":
        inner_msg = b"Subject: inner" + nl + b"Content-Transfer-Encoding: base64" + nl + nl + body
        return head + text + b"--BIG" + nl + b"Content-Type: message/rfc822" + nl + nl + inner_msg + tail
    if variant == "uuencode":
        return head + text + attach.replace(b"base64", b"x-uuencode") + body + tail
    if variant == "no_headers_part":
        return head + b"--BIG" + nl + nl + body + tail
    raise AssertionError(variant)


VARIANTS = [
    "plain",
    "preamble_epilogue",
    "bad_padding",
    "lookalike",
    "real_boundary_inside",
    "lone_cr",
    "no_close",
    "no_boundary_param",
    "non_ascii",
    "qp_text",
    "html_8bit",
    "nested",
    "rfc822",
    "uuencode",
    "no_headers_part",
]


# Where the scan must find something to keep out of the parser; elsewhere it must find nothing or back off.
EXPECT_FAST = {
    "plain",
    "preamble_epilogue",
    "bad_padding",
    "non_ascii",
    "qp_text",
    "html_8bit",
    "nested",
    "uuencode",
    "no_headers_part",
}


@pytest.mark.parametrize("nl", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_big_messages_match(monkeypatch: pytest.MonkeyPatch, variant: str, nl: bytes) -> None:
    raw = _big(nl, variant)
    plain, fast, taken = _both(raw, monkeypatch, bigparse.FAST_MIN_BODY)
    assert fast == plain
    assert taken == (variant in EXPECT_FAST)


def test_fast_path_runs_on_a_big_attachment_at_default_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _big(b"\r\n", "plain")
    assert len(raw) < parse_mod.FAST_MIN_MESSAGE
    raw = raw.replace(b"--BIG--", _b64(random.Random(2).randbytes(800_000), b"\r\n") + b"--BIG--", 1)
    plain, fast, taken = _both(raw, monkeypatch, bigparse.FAST_MIN_BODY)
    assert taken
    assert fast == plain


def test_streamed_input_gives_the_same_result(tmp_path: Path) -> None:
    raw = _big(b"\r\n", "nested") + b"x" * (parse_mod.FAST_MIN_MESSAGE)
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    with path.open("rb") as stream:
        streamed = parse_mod.parse_stream(stream, InboundLimits())
    in_memory = parse_mod.parse(raw)
    assert streamed.size_bytes == in_memory.size_bytes == len(raw)
    assert [b.content for b in streamed.bodies] == [b.content for b in in_memory.bodies]
