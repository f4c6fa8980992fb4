"""The SES Lambda event, the stored object's prepended headers, and the verdict control header."""

from __future__ import annotations

import re

import pytest

from mailflow_cli.local.ses_event import (
    ReceivedMail,
    Verdicts,
    lambda_event,
    new_message_id,
    stored_message,
)
from mailflow_cli.local.smtp_ingress import VERDICTS_HEADER, split_control_header

RAW = (
    b"From: Alice <alice@sender.org>\r\n"
    b"To: _app1@example.com, Bob <bob@example.com>\r\n"
    b"Subject: Hello\r\n"
    b"Message-ID: <m1@sender.org>\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Body\r\n"
)
FN = "arn:aws:lambda:eu-west-1:123456789012:function:f"


def mail(verdicts: Verdicts | None = None) -> ReceivedMail:
    return ReceivedMail(
        raw=RAW,
        mail_from="alice@sender.org",
        recipients=("_app1@example.com", "bob@example.com"),
        verdicts=verdicts or Verdicts(),
        helo="mx.sender.org",
    )


def test_message_ids_look_like_ses_ones() -> None:
    ids = {new_message_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[a-z0-9]{40}", i) for i in ids)


def test_lambda_event_has_ses_shape_and_only_the_rules_recipients() -> None:
    event = lambda_event(mail(), "eu-west-1", ["_app1@example.com"], FN)
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:ses"
    assert record["eventVersion"] == "1.0"
    ses_mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
    assert ses_mail["source"] == "alice@sender.org"
    assert ses_mail["destination"] == ["_app1@example.com", "bob@example.com"]
    assert re.fullmatch(r"[a-z0-9]{40}", ses_mail["messageId"])
    assert ses_mail["headersTruncated"] is False
    assert ses_mail["commonHeaders"]["subject"] == "Hello"
    assert ses_mail["commonHeaders"]["from"] == ["Alice <alice@sender.org>"]
    assert ses_mail["commonHeaders"]["to"] == ["_app1@example.com", "Bob <bob@example.com>"]
    assert ses_mail["commonHeaders"]["messageId"] == "<m1@sender.org>"
    names = [h["name"] for h in ses_mail["headers"]]
    assert names[:6] == [
        "Return-Path",
        "Received",
        "X-SES-Spam-Verdict",
        "X-SES-Virus-Verdict",
        "Received-SPF",
        "Authentication-Results",
    ]
    assert "Subject" in names
    assert receipt["recipients"] == ["_app1@example.com"]
    assert receipt["action"] == {"type": "Lambda", "functionArn": FN, "invocationType": "Event"}
    for key in ("spamVerdict", "virusVerdict", "spfVerdict", "dkimVerdict", "dmarcVerdict"):
        assert receipt[key] == {"status": "PASS"}
    assert "dmarcPolicy" not in receipt
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", receipt["timestamp"])


def test_chosen_verdicts_reach_the_event_and_the_stored_headers() -> None:
    verdicts = Verdicts.parse(["virus=FAIL", "spam=fail", "dmarc=FAIL"], "reject")
    event = lambda_event(mail(verdicts), "eu-west-1", ["_app1@example.com"], FN)
    receipt = event["Records"][0]["ses"]["receipt"]
    assert receipt["virusVerdict"] == {"status": "FAIL"}
    assert receipt["spamVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcPolicy"] == "REJECT"
    stored = stored_message(mail(verdicts), "eu-west-1").decode()
    assert stored.startswith("Return-Path: <alice@sender.org>\r\nReceived: from mx.sender.org")
    assert "X-SES-Virus-Verdict: FAIL\r\n" in stored
    assert "X-SES-Spam-Verdict: FAIL\r\n" in stored
    assert "dmarc=fail header.from=sender.org" in stored
    assert stored.endswith(RAW.decode())


@pytest.mark.parametrize("bad", ["virus", "virus=MAYBE", "colour=PASS"])
def test_bad_verdicts_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected NAME=STATUS"):
        Verdicts.parse([bad])


def test_control_header_is_stripped_and_parsed() -> None:
    verdicts = Verdicts.parse(["virus=FAIL"], "reject")
    raw = f"{VERDICTS_HEADER}: {verdicts.as_header()}\r\n".encode() + RAW
    cleaned, parsed = split_control_header(raw)
    assert cleaned == RAW
    assert parsed == verdicts


def test_folded_control_header_in_the_middle_is_stripped() -> None:
    raw = RAW.replace(
        b"Subject: Hello\r\n", b"Subject: Hello\r\nX-Mailflow-Local-Verdicts: spam=FAIL;\r\n virus=FAIL\r\n"
    )
    cleaned, parsed = split_control_header(raw)
    assert cleaned == RAW
    assert (parsed.spam, parsed.virus, parsed.dkim) == ("FAIL", "FAIL", "PASS")


def test_header_looking_line_in_the_body_is_kept() -> None:
    raw = RAW + b"X-Mailflow-Local-Verdicts: virus=FAIL\r\n"
    cleaned, parsed = split_control_header(raw)
    assert cleaned == raw
    assert parsed == Verdicts()
