"""Finding 3: `allowedSenderDomains` is an authentication check, not an envelope-sender string match.

app3 lists `trusted.org`. A sender counts only if authenticated for a listed domain: SPF PASS for the
envelope sender's domain, or DMARC PASS for the From header's domain. Finding 2 (inbound side): a From
header with several mailboxes is a parse defect and a security flag, and never authenticates a domain.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailflow_handler import handler

from .conftest import Env, ses_event, ses_record, simple_mime

APP3 = ["_app3@example.com"]


def deliver(
    env: Env, *, source: str, header_from: str = "Alice <alice@trusted.org>", **verdicts: Any
) -> dict[str, Any]:
    ses_id = env.put_raw(simple_mime(sender=header_from, to=APP3[0]))
    handler(ses_event(ses_record(ses_id, APP3, source=source, **verdicts)), None)
    delivered = env.drain("app3")
    quarantined = env.quarantine_records()
    assert len(delivered) + len(quarantined) == 1  # exactly one visible place
    assert env.drain("inboundDlq") == []
    if delivered:
        return {"delivered": delivered[0]}
    return {"quarantined": quarantined[0]["reasons"]["app3"], "record": quarantined[0]}


def test_all_fail_claiming_a_listed_domain_is_quarantined(aws_env: Env) -> None:
    """The review's case: envelope payments@trusted.org with SPF, DKIM and DMARC all FAIL (was delivered,
    unflagged)."""
    out = deliver(aws_env, source="payments@trusted.org", spf="FAIL", dkim="FAIL", dmarc="FAIL")
    assert out["quarantined"] == "sender_unauthenticated"
    assert out["record"]["security"]["flags"] == ["dmarc_fail"]


@pytest.mark.parametrize("spf", ["FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED", None])
@pytest.mark.parametrize("dmarc", ["FAIL", "GRAY", "PROCESSING_FAILED", None])
def test_listed_envelope_without_spf_or_dmarc_pass_is_quarantined(
    aws_env: Env, spf: str | None, dmarc: str | None
) -> None:
    out = deliver(aws_env, source="x@trusted.org", spf=str(spf), dmarc=str(dmarc))
    assert out["quarantined"] == "sender_unauthenticated"


def test_spf_pass_for_the_listed_envelope_domain_delivers(aws_env: Env) -> None:
    out = deliver(aws_env, source="X@TRUSTED.ORG.", spf="PASS", dmarc="FAIL", header_from="x@other.example")
    security = out["delivered"]["security"]
    assert security["flags"] == ["dmarc_fail"]
    assert security["flagged"] is True


def test_dmarc_pass_for_a_listed_from_domain_delivers(aws_env: Env) -> None:
    """Mail sent through a provider: the envelope is the provider's, the From header is authenticated."""
    out = deliver(aws_env, source="bounce@esp.example", spf="PASS", dmarc="PASS")
    assert out["delivered"]["email"]["from"]["address"] == "alice@trusted.org"
    assert out["delivered"]["security"]["flags"] == []


def test_dmarc_pass_for_another_domain_does_not_authenticate_the_envelope(aws_env: Env) -> None:
    """DMARC PASS is about the From domain: an attacker's own DKIM-signed domain in From does not make a
    forged trusted.org envelope sender trustworthy."""
    out = deliver(
        aws_env, source="x@trusted.org", spf="FAIL", dmarc="PASS", header_from="Bank <a@attacker.example>"
    )
    assert out["quarantined"] == "sender_unauthenticated"


def test_several_from_mailboxes_never_authenticate(aws_env: Env) -> None:
    out = deliver(
        aws_env,
        source="bounce@esp.example",
        spf="FAIL",
        dmarc="PASS",
        header_from="Alice <alice@trusted.org>, <mallory@attacker.example>",
    )
    assert out["quarantined"] == "sender_not_allowed"


@pytest.mark.parametrize(
    ("source", "header_from"),
    [("x@sub.trusted.org", "x@sub.trusted.org"), ("x@trusted.org.evil.example", "x@evil.example")],
)
def test_only_the_listed_domain_itself_counts(aws_env: Env, source: str, header_from: str) -> None:
    out = deliver(aws_env, source=source, spf="PASS", dmarc="PASS", header_from=header_from)
    assert out["quarantined"] == "sender_not_allowed"


def test_refusal_that_needs_no_header_reads_no_raw_mail(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailflow_handler import clients

    reads: list[str] = []
    s3 = clients.client("s3")
    real = s3.get_object
    monkeypatch.setattr(s3, "get_object", lambda **kw: (reads.append(kw["Key"]), real(**kw))[1])
    out = deliver(aws_env, source="x@evil.example", spf="PASS", dmarc="FAIL")
    assert out["quarantined"] == "sender_not_allowed"
    assert reads == []


# Several From mailboxes (finding 2, inbound side).


@pytest.mark.parametrize(
    "extra",
    [
        "From: Bank <security@bank.example>, <attacker@evil.example>",
        "From: <a@one.example>\r\nFrom: <b@two.example>",
        "From: a@one.example,\r\n b@two.example",
    ],
)
def test_several_from_mailboxes_are_a_defect_and_a_flag(aws_env: Env, extra: str) -> None:
    rest = simple_mime().partition(b"\r\n")[2]
    raw = extra.encode() + b"\r\n" + rest  # replaces the single From line
    ses_id = aws_env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (message,) = aws_env.drain("app1")
    assert "multiple_from" in message["email"]["parseDefects"]
    assert "multiple_from" in message["security"]["flags"]
    assert message["security"]["flagged"] is True


def test_one_from_mailbox_is_not_flagged(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(simple_mime(sender='"Doe, Jane" <jane@sender.org>'))
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (message,) = aws_env.drain("app1")
    assert "multiple_from" not in message["email"]["parseDefects"]
    assert message["security"]["flags"] == []
