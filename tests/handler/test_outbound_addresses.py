"""Finding 2: display names cannot add, change or hide mailboxes in From, To, Cc or Reply-To.

CPython's policies decode an encoded word in a display name and write it back unquoted on some patch
levels (gh-121284), so display names are encoded by our code and every composed message is parsed back:
each address field must hold exactly the intended mailboxes, whatever the Python.
"""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header
from email.policy import default
from email.utils import getaddresses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow_handler.inbound.parse import parse
from mailflow_handler.outbound import compose as compose_mod
from mailflow_handler.outbound.compose import compose, verify
from mailflow_handler.outbound.validate import Mailbox, ValidationError, validate

NEEDS_AWS = False
FIELDS = {"from": "From", "to": "To", "cc": "Cc", "replyTo": "Reply-To"}
HOSTILE_NAMES = [
    "=?utf-8?q?security=40bank=2Eexample?=",  # the review's cases
    "=?utf-8?q?Bank_=3Csecurity=40bank=2Eexample=3E=2C?=",
    "=?utf-8?b?IiA8c2VjdXJpdHlAYmFuay5leGFtcGxlPiAi?=",
    "=?utf-8?q?x=40y=2Ez?=",
    "=?iso-8859-1?q?a=2C_b=40c=2Ed_=3Cd=40e=2Ef=3E?=",
    "=?utf-8?q?unterminated=40evil.example",
    "security@bank.example",
    "Bank <security@bank.example>, x",
    'Doe, "Jane" \\ <j@x.y>',
    "undisclosed-recipients:;",
    "group: a@b.c;",
    "(comment) a@b.c",
    "Ana Gómez <ana@x.y>",
    "\u202eevil",
    "x" * 256,
    "é" * 200,
    "a " * 120 + "=?",
    "  spaced   out  ",
    "=?",
    "?=",
]


def request(name: str, field: str) -> dict[str, Any]:
    email: dict[str, Any] = {
        "from": {"address": "_app1@example.com"},
        "to": [{"address": "to1@dest.example"}, {"address": "to2@dest.example", "name": "Second"}],
        "cc": [{"address": "cc@dest.example"}],
        "replyTo": [{"address": "reply@example.com"}],
        "subject": "s",
        "body": {"text": "t"},
    }
    target = email[field] if isinstance(email[field], dict) else email[field][0]
    target["name"] = name
    return {"correlationId": "c", "source": "app1", "email": email}


def intended(doc: dict[str, Any], field: str) -> list[tuple[str, str]]:
    value = doc["email"][field]
    boxes = [value] if isinstance(value, dict) else value
    return [("".join((b.get("name") or "").split()), b["address"]) for b in boxes]


def _decoded(phrase: str) -> str:
    chunks = decode_header(phrase)
    return "".join(
        "".join(c.decode(cs or "ascii", "replace") if isinstance(c, bytes) else c for c, cs in chunks).split()
    )


def read_back(raw: bytes, header: str) -> dict[str, list[tuple[str, str]]]:
    """The field as three readers see it: compat32 getaddresses, policy.default, Mailflow's inbound."""
    legacy_msg = message_from_bytes(raw)
    values = [v.replace("\r\n", "") for v in legacy_msg.get_all(header) or []]
    modern = message_from_bytes(raw, policy=default)[header]
    inbound = parse(raw)
    mine = {"From": [inbound.from_] if inbound.from_ else [], "To": inbound.to, "Cc": inbound.cc}
    mine["Reply-To"] = inbound.reply_to
    return {
        "getaddresses": [(_decoded(n), a) for n, a in getaddresses(values)],
        "policy.default": [("".join(a.display_name.split()), a.addr_spec) for a in modern.addresses],
        "mailflow": [("".join((m["name"] or "").split()), m["address"]) for m in mine[header]],
    }


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_every_reader_sees_exactly_the_intended_mailboxes(name: str, field: str) -> None:
    doc = request(name, field)
    raw = compose(validate(doc, 50), [])
    for other, header in FIELDS.items():
        for reader, seen in read_back(raw, header).items():
            assert seen == intended(doc, other), (reader, header)
    assert "multiple_from" not in parse(raw).defects


def test_display_names_never_reach_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[str] = []
    real = compose_mod.EmailMessage.__setitem__

    def spy(self: Any, name: str, value: Any) -> None:
        handed.append(name.lower())
        real(self, name, value)

    monkeypatch.setattr(compose_mod.EmailMessage, "__setitem__", spy)
    compose(validate(request("=?utf-8?q?a=40b?=", "from"), 50), [])
    assert not {"from", "to", "cc", "reply-to", "sender", "bcc"} & set(handed)


BOXES = {"From": [Mailbox("_app1@example.com", "security@bank.example")], "To": [Mailbox("c@d.example")]}
GOOD = b'From: "security@bank.example" <_app1@example.com>\r\nTo: c@d.example\r\nSubject: s\r\n\r\nx'


@pytest.mark.parametrize(
    "from_line",
    [
        b"From: security@bank.example <_app1@example.com>",  # what 3.11.7, 3.12.1, 3.13.0 wrote
        b"From: Bank <security@bank.example>, <_app1@example.com>",
        b"From: <_app1@example.com>, <_app1@example.com>",
        b'From: "security@bank.example" <_app2@example.com>',
        b'From: "someone else" <_app1@example.com>',
    ],
)
def test_verify_refuses_what_the_affected_pythons_composed(from_line: bytes) -> None:
    """The check does not depend on our encoder: whatever wrote the field, wrong mailboxes are refused."""
    verify(GOOD, ["from", "to", "subject"], BOXES)
    with pytest.raises(ValidationError) as refused:
        verify(GOOD.replace(GOOD.split(b"\r\n")[0], from_line), ["from", "to", "subject"], BOXES)
    assert refused.value.reason == "header_injection"


def test_a_second_address_field_is_refused() -> None:
    doubled = GOOD.replace(b"To: c@d.example\r\n", b"To: c@d.example\r\nTo: e@f.example\r\n")
    with pytest.raises(ValidationError):
        verify(doubled, ["from", "to", "subject"], BOXES)


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80) | st.sampled_from(HOSTILE_NAMES)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(names, names, names, names)
def test_any_names_give_exactly_the_intended_mailboxes_or_a_refusal(a: str, b: str, c: str, d: str) -> None:
    doc = request(a, "from")
    doc["email"]["to"][1]["name"] = b
    doc["email"]["cc"][0]["name"] = c
    doc["email"]["replyTo"][0]["name"] = d
    try:
        raw = compose(validate(doc, 50), [])
    except ValidationError as refused:
        raw, reason = b"", refused.reason
    if not raw:
        assert reason in ("header_injection", "invalid_message")
        return
    for other, header in FIELDS.items():
        for reader, seen in read_back(raw, header).items():
            assert [address for _, address in seen] == [address for _, address in intended(doc, other)], (
                reader
            )
