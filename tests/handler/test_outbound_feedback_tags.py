"""Issue 11.2 / contract E: every SES send names the configuration set and carries the tags that bring SES's
events back to the app and request; the From address SES authorises is the lower-case one IAM allows.

moto accepts and ignores `ConfigurationSetName` and `EmailTags`, so the tests read the parameters the
handler passes to SESv2 SendEmail (botocore's `before-parameter-build` hook). AWS's rules they rely on:
a tag value is 1-256 characters of `A-Z a-z 0-9 _ -` (API reference, MessageTag); IAM's
`ses:FromAddress` condition (StringLike) compares case-sensitively.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailflow_handler import clients, handler
from mailflow_handler.outbound.send import REASON_TEXTS
from mailflow_handler.sestags import MAX_ENCODED_BYTES, TagValueError, decode_value, encode_value

from .conftest import CONFIGURATION_SET, Env, make_config, outbound_request, sent_emails, sqs_event

REQUEST: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "reply-42",
    "source": "app1",
    "email": {
        "from": {"address": "_App1@Example.COM", "name": "Support"},
        "to": [{"address": "someone@example.net"}],
        "subject": "Hello",
        "body": {"text": "Hi"},
    },
}
SES_TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def capture_sends() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    clients.client("sesv2").meta.events.register(
        "before-parameter-build.sesv2.SendEmail", lambda params, **_: calls.append(dict(params))
    )
    return calls


def send(document: dict[str, Any]) -> None:
    assert handler(sqs_event([document]), None) == {"batchItemFailures": []}


def test_the_send_names_the_configuration_set_and_tags_the_app_and_request(aws_env: Env) -> None:
    calls = capture_sends()
    send(REQUEST)
    (call,) = calls
    assert call["ConfigurationSetName"] == CONFIGURATION_SET
    assert call["EmailTags"] == [
        {"Name": "mailflow-app", "Value": "app1"},
        {"Name": "mailflow-cid", "Value": "reply-42"},
    ]
    # IAM's ses:FromAddress condition is case-sensitive: SES gets the address as `senders` holds it; the
    # From header keeps the app's spelling.
    assert call["FromEmailAddress"] == "_app1@example.com"
    (sent,) = sent_emails()
    header = message_from_bytes(sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data)
    assert header["From"] == "Support <_App1@Example.COM>"
    assert aws_env.drain("app1")[0]["status"] == "sent"


def test_without_a_configuration_set_the_tags_still_go(aws_env: Env) -> None:
    """A runtime config written before the feedback path had no configuration set to name."""
    document = make_config()
    del document["feedback"]
    aws_env.config_path.write_text(json.dumps(document))
    clients.reset()
    calls = capture_sends()
    send(REQUEST)
    assert "ConfigurationSetName" not in calls[0]
    assert [t["Name"] for t in calls[0]["EmailTags"]] == ["mailflow-app", "mailflow-cid"]


@pytest.mark.parametrize(
    "cid",
    ["order 42", "b64-looks-encoded", "Größe/½", "a.b@c", "x" * 256, "é" * (MAX_ENCODED_BYTES // 2)],
    ids=["space", "marker-prefix", "non-ascii", "dot-and-at", "256-plain", "189-bytes"],
)
def test_any_correlation_id_that_fits_is_carried_and_comes_back(aws_env: Env, cid: str) -> None:
    calls = capture_sends()
    send(outbound_request(REQUEST) | {"correlationId": cid})
    value = calls[0]["EmailTags"][1]["Value"]
    assert SES_TAG_VALUE.fullmatch(value)
    assert decode_value(value) == cid
    assert aws_env.drain("app1")[0]["status"] == "sent"


def test_a_correlation_id_too_long_to_tag_is_refused_with_a_clear_reason(aws_env: Env) -> None:
    cid = "é" * 100  # 100 characters (the request's limit is 256), 200 bytes of UTF-8: over 189 once encoded
    calls = capture_sends()
    send(outbound_request(REQUEST) | {"correlationId": cid})
    assert calls == []
    (status,) = aws_env.drain("app1")
    assert (status["status"], status["retry"], status["correlationId"]) == ("failed", False, cid)
    assert status["error"] == {
        "reason": "invalid_correlation_id",
        "message": REASON_TEXTS["invalid_correlation_id"],
    }


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=256))
def test_tag_values_follow_the_ses_rule_and_decode_to_the_text(text: str) -> None:
    try:
        value = encode_value(text)
    except TagValueError:
        assert len(text.encode("utf-8")) > MAX_ENCODED_BYTES
        return
    assert SES_TAG_VALUE.fullmatch(value)
    assert decode_value(value) == text


@given(st.text(alphabet="ABCabc019_-=+/.", min_size=1, max_size=300))
def test_only_values_encode_value_makes_are_read(value: str) -> None:
    """Anything else an event's tag could hold decodes to None, never to some other text."""
    text = decode_value(value)
    if text is not None:
        assert encode_value(text) == value
