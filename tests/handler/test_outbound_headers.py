"""Findings 9 and 10: what an app may put into the header of the mail it sends.

- Custom headers may not be SES's control headers (`X-SES-*`: configuration set, message tags, sending
  authorisation ARNs, list management) nor Mailflow's (`X-Mailflow-*`: the local emulator reads verdicts
  from one), in any case.
- Every decoding path (an RFC 2047 word in any encoding and charset, terminated or not) gets the same
  control character rule as plain text: C0 except TAB, DEL, C1, U+2028/2029.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from mailflow_handler.outbound.compose import compose
from mailflow_handler.outbound.validate import ValidationError, validate

NEEDS_AWS = False


def request(**email: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "correlationId": "c",
        "source": "app1",
        "email": {"from": {"address": "_app1@example.com"}, "to": ["r@dest.example"], "subject": "s"},
    }
    doc["email"]["body"] = {"text": "t"}
    doc["email"].update(email)
    return doc


def refused(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        compose(validate(doc, 50), [])
    return caught.value.reason


RESERVED = [
    "X-SES-CONFIGURATION-SET",
    "x-ses-message-tags",
    "X-Ses-Source-Arn",
    "X-SES-FROM-ARN",
    "X-SES-RETURN-PATH-ARN",
    "X-SES-LIST-MANAGEMENT-OPTIONS",
    "X-SES",
    "x-ses-anything-new",
    "X-Mailflow-Local-Verdicts",
    "x-mailflow",
    "X-MAILFLOW-Test-Id",
]


@pytest.mark.parametrize("name", RESERVED)
def test_control_header_names_are_refused_in_any_case(name: str) -> None:
    assert refused(request(headers={name: "value"})) == "header_not_allowed"


@pytest.mark.parametrize("name", ["X-Session-Id", "X-Sesame", "X-Mailflower", "X-Ticket"])
def test_names_that_only_look_alike_are_accepted(name: str) -> None:
    raw = compose(validate(request(headers={name: "v"}), 50), [])
    assert f"\r\n{name}: v\r\n".encode() in raw


def q(data: bytes) -> str:
    return "".join(f"={b:02X}" for b in data)


def b(data: bytes) -> str:
    return base64.b64encode(data).decode()


CONTROLS = ["\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\x08", "\x00", "\r", "\n"]
WORDS = [
    word
    for char in CONTROLS
    for word in (
        f"=?utf-8?q?a{q(char.encode())}b?=",
        f"=?UTF-8?B?{b(('a' + char + 'b').encode())}?=",
        f"=?utf-8?q?a{q(char.encode())}b",  # unterminated
        f"x =?utf-8*en?q?{q(char.encode())}?= y",  # RFC 2231 language tag
    )
] + [
    "=?iso-8859-1?q?a=85b?=",  # NEL in Latin-1
    "=?windows-1252?q?a=1Bb?=",
    "=?x-unknown?q?a=9Bb?=",  # C1 byte, unknown charset: read as Latin-1
    "=?utf-16?b?" + b("a\x0bb".encode("utf-16")) + "?=",
    "=?utf-8?q?a=E2=80=A8b?=",
]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("where", ["subject", "name", "header", "filename"])
def test_encoded_words_decoding_to_controls_are_refused(word: str, where: str) -> None:
    if where == "subject":
        doc = request(subject=word)
    elif where == "name":
        doc = request(to=[{"address": "r@dest.example", "name": word}])
    elif where == "header":
        doc = request(headers={"X-Note": word})
    else:
        attachment = {"bucket": "b", "key": "outbound/app1/a", "filename": word, "contentType": "text/plain"}
        doc = request(attachments=[attachment])
        with pytest.raises(ValidationError) as caught:
            validate(doc, 50)
        assert caught.value.reason == "header_injection"
        return
    assert refused(doc) == "header_injection"


@pytest.mark.parametrize("text", ["a\tb", "=?utf-8?q?a=09b?=", "caf\u00e9 \u2603", "=?utf-8?q?caf=C3=A9?="])
def test_tab_and_printable_text_pass(text: str) -> None:
    raw = compose(validate(request(subject=text, headers={"X-Note": text}), 50), [])
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]|\r(?!\n)|(?<!\r)\n", head)
