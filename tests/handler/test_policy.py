from __future__ import annotations

from typing import Any

import pytest

from mailflow_handler import handler

from .conftest import BUCKET, Env, ses_event, ses_record, simple_mime


def deliver(env: Env, recipients: list[str], **kw: Any) -> dict[str, list[dict[str, Any]]]:
    ses_id = env.put_raw(simple_mime())
    handler(ses_event(ses_record(ses_id, recipients, **kw)), None)
    return {k: v for k, v in env.drain_all().items() if v}


@pytest.mark.parametrize("virus", ["FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED", "bogus"])
def test_virus_not_pass_is_quarantined_never_delivered(aws_env: Env, virus: str) -> None:
    aws_env.write_config(security={"spamFail": "deliver", "dmarcReject": "deliver"})
    ses_id = aws_env.put_raw(simple_mime())
    handler(ses_event(ses_record(ses_id, ["_app1@example.com", "_x@example.com"], virus=virus)), None)
    assert {k: v for k, v in aws_env.drain_all().items() if v} == {}
    records = aws_env.quarantine_records()
    assert len(records) == 1
    assert records[0]["reasons"]["app1"].startswith("virus_")
    assert records[0]["sesMessageId"] == ses_id
    copied = aws_env.s3.get_object(Bucket=BUCKET, Key=f"quarantine/{ses_id}.eml")["Body"].read()
    assert copied == simple_mime()


def test_missing_virus_verdict_is_quarantined(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(simple_mime())
    record = ses_record(ses_id, ["_app1@example.com"])
    del record["ses"]["receipt"]["virusVerdict"]
    handler(ses_event(record), None)
    assert aws_env.drain("app1") == []
    assert aws_env.quarantine_records()[0]["reasons"] == {"app1": "virus_unknown"}


def test_spam_fail_quarantined_by_default(aws_env: Env) -> None:
    assert deliver(aws_env, ["_app1@example.com"], spam="FAIL") == {}
    assert aws_env.quarantine_records()[0]["reasons"] == {"app1": "spam_fail"}


def test_spam_fail_delivered_flagged_when_configured(aws_env: Env, inbound_validator: Any) -> None:
    aws_env.write_config(security={"spamFail": "deliver"})
    out = deliver(aws_env, ["_app1@example.com"], spam="FAIL")
    message = out["app1"][0]
    inbound_validator.validate(message)
    assert message["security"]["flagged"] is True
    assert message["security"]["flags"] == ["spam_fail"]
    assert aws_env.quarantine_records() == []


def test_dmarc_reject_quarantined_by_default(aws_env: Env) -> None:
    assert deliver(aws_env, ["_app1@example.com"], dmarc="FAIL", dmarc_policy="reject") == {}
    assert aws_env.quarantine_records()[0]["reasons"] == {"app1": "dmarc_reject"}


def test_dmarc_reject_delivered_flagged_when_configured(aws_env: Env) -> None:
    aws_env.write_config(security={"dmarcReject": "deliver"})
    out = deliver(aws_env, ["_app1@example.com"], dmarc="FAIL", dmarc_policy="REJECT")
    security = out["app1"][0]["security"]
    assert security["dmarcPolicy"] == "reject"
    assert security["flags"] == ["dmarc_fail", "dmarc_reject"]


@pytest.mark.parametrize("policy", ["quarantine", "none", None])
def test_dmarc_fail_with_a_lesser_policy_is_delivered_flagged(aws_env: Env, policy: str | None) -> None:
    """Finding 3: any DMARC FAIL is flagged, whatever the domain's policy (was: flagged only for reject)."""
    out = deliver(aws_env, ["_app1@example.com"], dmarc="FAIL", dmarc_policy=policy)
    assert out["app1"][0]["security"]["dmarcVerdict"] == "FAIL"
    assert out["app1"][0]["security"]["flagged"] is True
    assert out["app1"][0]["security"]["flags"] == ["dmarc_fail"]


def test_sender_allow_list_quarantines_only_that_app(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app1@example.com", "_app3@example.com"], source="bad@evil.org")
    assert list(out) == ["app1"]
    records = aws_env.quarantine_records()
    assert records[0]["reasons"] == {"app3": "sender_not_allowed"}


def test_sender_allow_list_uses_envelope_sender(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app3@example.com"], source="bounce@Trusted.org")
    assert list(out) == ["app3"]
    assert aws_env.quarantine_records() == []
