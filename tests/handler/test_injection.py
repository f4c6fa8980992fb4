from __future__ import annotations

import copy
from typing import Any

import pytest

from mailflow_handler.outbound.compose import compose, verify
from mailflow_handler.outbound.validate import Mailbox, ValidationError, contains_injection, validate

from .test_outbound import EXAMPLE

NEEDS_AWS = False

PAYLOADS = [
    "hi\r\nBcc: evil@evil.org",
    "hi\nBcc: evil@evil.org",
    "hi\rBcc: evil@evil.org",
    "hi\x00there",
    "=?utf-8?q?hi=0D=0ABcc=3A_evil=40evil=2Eorg?=",
    "=?UTF-8?Q?hi=0ABcc:_evil@evil.org?=",
    "=?utf-8?b?aGkNCkJjYzogZXZpbEBldmlsLm9yZw==?=",
    "=?iso-8859-1?q?x=00y?=",
    "prefix =?utf-8?B?DQo=?= suffix",
]


def place(doc: dict[str, Any], where: str, value: str) -> None:
    email = doc["email"]
    if where == "subject":
        email["subject"] = value
    elif where == "from.name":
        email["from"]["name"] = value
    elif where == "to.name":
        email["to"] = [{"address": "recipient@example.com", "name": value}]
    elif where == "to.address":
        email["to"] = [{"address": f"x{value}@example.com"}]
    elif where == "cc.address":
        email["cc"] = [{"address": value}]
    elif where == "replyTo.name":
        email["replyTo"] = {"address": "r@example.com", "name": value}
    elif where == "custom.value":
        email["headers"] = {"X-Custom": value}
    elif where == "inReplyTo":
        email["headers"] = {"inReplyTo": f"<a{value}@b.org>"}
    elif where == "references":
        email["headers"] = {"references": [f"<a{value}@b.org>"]}
    elif where == "attachment.filename":
        email["attachments"] = [{"bucket": "b", "key": "outbound/k", "filename": f"f{value}.txt"}]


FIELDS = [
    "subject",
    "from.name",
    "to.name",
    "to.address",
    "cc.address",
    "replyTo.name",
    "custom.value",
    "inReplyTo",
    "references",
    "attachment.filename",
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("where", FIELDS)
def test_injection_matrix_is_rejected(where: str, payload: str) -> None:
    doc = copy.deepcopy(EXAMPLE)
    place(doc, where, payload)
    with pytest.raises(ValidationError):
        validate(doc, 50)


@pytest.mark.parametrize(
    "name",
    [
        "Bcc",
        "X-Evil\r\nBcc",
        "X-Has Space",
        "X-Colon:",
        "Subject",
        "X-",
        "X-\u00e9",
        "Content-Type",
        "x\x00",
        "",
    ],
)
def test_bad_custom_header_names_rejected(name: str) -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["headers"] = {name: "v"}
    with pytest.raises(ValidationError):
        validate(doc, 50)


def test_duplicate_custom_header_names_rejected() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["headers"] = {"X-A": "1", "x-a": "2"}
    with pytest.raises(ValidationError):
        validate(doc, 50)


def test_benign_encoded_words_are_allowed() -> None:
    assert not contains_injection("=?utf-8?q?caf=C3=A9?=")
    assert not contains_injection("=?utf-8?b?8J+Riw==?=")
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["subject"] = "=?utf-8?q?caf=C3=A9?= ok"
    assert validate(doc, 50).subject.endswith("ok")


def test_threading_ids_not_double_bracketed() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["headers"] = {"inReplyTo": "<a@b.org>", "references": "<r1@b.org> r2@b.org"}
    raw = compose(validate(doc, 50), [])
    assert b"In-Reply-To: <a@b.org>\r\n" in raw
    assert b"References: <r1@b.org> <r2@b.org>\r\n" in raw
    assert b"<<" not in raw


def test_verify_rejects_unexpected_or_duplicate_headers() -> None:
    base = (
        b"From: a@b.org\r\nTo: c@d.org\r\nSubject: s\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nx"
    )
    names = ["from", "to", "subject"]
    boxes = {"From": [Mailbox("a@b.org")], "To": [Mailbox("c@d.org")]}
    verify(base, names, boxes)
    with pytest.raises(ValidationError):
        verify(base.replace(b"Subject: s\r\n", b"Subject: s\r\nBcc: e@vil.org\r\n"), names, boxes)
    with pytest.raises(ValidationError):
        verify(base.replace(b"Subject: s\r\n", b"Subject: s\r\nSubject: t\r\n"), names, boxes)
    with pytest.raises(ValidationError):
        verify(base.replace(b"Subject: s", b"Subject: =?utf-8?q?a=0D=0Ab?="), names, boxes)


def test_non_ascii_display_names_and_subject_are_encoded() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["from"]["name"] = "Zürich Ops"
    doc["email"]["subject"] = "Grüße 👋"
    raw = compose(validate(doc, 50), [])
    assert raw.isascii()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in head


def test_non_ascii_local_part_rejected() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["email"]["to"] = [{"address": "jürgen@example.com"}]
    with pytest.raises(ValidationError):
        validate(doc, 50)
