from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from mailflow_handler import handler

from .conftest import BUCKET, Env, ses_event, ses_record, simple_mime

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"x" * 3000


def run(env: Env, raw: bytes, recipients: list[str] | None = None, **kw: Any) -> tuple[str, dict[str, Any]]:
    ses_id = env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, recipients or ["_app1@example.com"], **kw)), None)
    out = env.drain("app1")
    assert len(out) == 1
    return ses_id, out[0]


def rich_mime() -> bytes:
    png64 = base64.b64encode(PNG).decode()
    pdf64 = base64.b64encode(PDF).decode()
    return (
        "From: =?utf-8?q?Z=C3=BCrich_Team?= <team@sender.org>\r\n"
        'To: "Doe, Jane" <_app1@example.com>, bob@example.com\r\n'
        "Cc: carol@example.org\r\n"
        "Reply-To: replies@sender.org\r\n"
        "Subject: =?utf-8?b?SGVsbG8g8J+Riw==?= world\r\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
        "Message-ID: <abc@sender.org>\r\n"
        "In-Reply-To: <prev@sender.org>\r\n"
        "References: <first@sender.org>\r\n <prev@sender.org>\r\n"
        "X-SES-Spam-Verdict: PASS\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        "--outer\r\n"
        'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
        "--rel\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Gr=FC=DFe\r\n"
        "--alt\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n'
        '<p>Hello <img src="cid:logo@x"></p>\r\n'
        "--alt--\r\n"
        "--rel\r\n"
        "Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{png64}\r\n"
        "--rel--\r\n"
        "--outer\r\n"
        'Content-Type: application/pdf; name="../../etc/r\u00e9sum\u00e9.pdf"\r\n'
        "Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fetc%2Fr%C3%A9sum%C3%A9.pdf\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{pdf64}\r\n"
        "--outer\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        "From: Inner <inner@else.org>\r\nSubject: inner subject\r\nMessage-ID: <inner@else.org>\r\n"
        'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
        "--in\r\nContent-Type: text/plain\r\n\r\ninner body\r\n"
        '--in\r\nContent-Type: text/csv; name="data.csv"\r\n\r\na,b\r\n1,2\r\n--in--\r\n'
        "--outer--\r\n"
    ).encode()


def test_message_fields(aws_env: Env, inbound_validator: Any) -> None:
    ses_id, message = run(aws_env, rich_mime())
    inbound_validator.validate(message)
    email = message["email"]
    assert message["version"] == "1.1"
    assert message["type"] == "inbound.email"
    assert email["from"] == {"address": "team@sender.org", "name": "Zürich Team"}
    assert email["to"] == [
        {"address": "_app1@example.com", "name": "Doe, Jane"},
        {"address": "bob@example.com", "name": None},
    ]
    assert email["cc"] == [{"address": "carol@example.org", "name": None}]
    assert email["replyTo"] == [{"address": "replies@sender.org", "name": None}]
    assert email["subject"] == "Hello 👋 world"
    assert email["messageId"] == "abc@sender.org"
    assert email["inReplyTo"] == "prev@sender.org"
    assert email["references"] == ["first@sender.org", "prev@sender.org"]
    assert email["dateIso"] == "2024-01-02T10:00:00+01:00"
    assert email["text"] == "Grüße"
    assert email["html"].startswith("<p>Hello")
    assert [b["content"].strip() for b in email["additionalBodies"]] == ["inner body"]
    assert email["additionalBodies"][0]["embedded"] is True
    assert [h["name"] for h in email["headers"]][:3] == ["From", "To", "Cc"]
    assert email["embeddedMessages"] == [
        {
            "messageId": "inner@else.org",
            "subject": "inner subject",
            "from": {"address": "inner@else.org", "name": "Inner"},
            "date": None,
        }
    ]
    meta = message["metadata"]
    assert meta == {
        "sesMessageId": ses_id,
        "receivedAt": "2024-01-01T00:00:00.000Z",
        "s3Bucket": BUCKET,
        "s3ObjectKey": f"raw/{ses_id}",
    }
    assert message["security"]["spamVerdict"] == "PASS"
    assert message["envelope"]["mailFrom"] == "sender@sender.org"


def test_attachments_are_stored_under_ses_id(aws_env: Env) -> None:
    ses_id, message = run(aws_env, rich_mime())
    atts = message["email"]["attachments"]
    assert [a["contentType"] for a in atts] == ["image/png", "application/pdf", "text/csv"]
    png, pdf, csv = atts
    assert png["contentId"] == "logo@x"
    assert png["disposition"] == "inline"
    assert png["filename"] is None
    assert png["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert png["size"] == len(PNG)
    assert pdf["filename"] == "../../etc/résumé.pdf"
    assert pdf["disposition"] == "attachment"
    assert pdf["s3Key"] == f"attachments/app1/{ses_id}/1-resume.pdf"
    assert csv["embedded"] is True
    for att in atts:
        assert att["s3Key"].startswith(f"attachments/app1/{ses_id}/{att['index']}-")
        assert "abc@sender.org" not in att["s3Key"]
        stored = aws_env.s3.get_object(Bucket=BUCKET, Key=att["s3Key"])
        data = stored["Body"].read()
        assert hashlib.sha256(data).hexdigest() == att["sha256"]
        assert stored["ContentType"] == att["contentType"]
    assert "url" not in json.dumps(atts).lower()


def test_same_message_id_header_does_not_collide(aws_env: Env) -> None:
    first_id, first = run(aws_env, rich_mime())
    second_id, second = run(aws_env, rich_mime())
    keys1 = {a["s3Key"] for a in first["email"]["attachments"]}
    keys2 = {a["s3Key"] for a in second["email"]["attachments"]}
    assert first_id != second_id
    assert not keys1 & keys2


def test_claim_check_moves_bodies_to_s3(aws_env: Env, inbound_validator: Any) -> None:
    big = "line of text\n" * 30000
    ses_id, message = run(aws_env, simple_mime(body=big))
    inbound_validator.validate(message)
    email = message["email"]
    claim = email["claimCheck"]
    assert claim is not None
    assert email["text"] is None
    assert email["subject"] == "Hello"
    assert claim["s3Key"] == f"claims/app1/{ses_id}.json"
    document = aws_env.s3.get_object(Bucket=BUCKET, Key=claim["s3Key"])["Body"].read()
    assert hashlib.sha256(document).hexdigest() == claim["sha256"]
    restored = json.loads(document)
    assert restored["text"].replace("\r\n", "\n").strip() == big.strip()
    assert set(claim["fields"]) == set(restored)
    assert len(json.dumps(message).encode()) <= 262144


def test_small_message_has_no_claim(aws_env: Env) -> None:
    _, message = run(aws_env, simple_mime())
    assert message["email"]["claimCheck"] is None
    assert message["email"]["text"] == "Hi there\r\n"


def test_huge_headers_are_capped_and_recorded(aws_env: Env, inbound_validator: Any) -> None:
    subject = "A" * 800_000
    many_to = ", ".join(f"user{i}@example.net" for i in range(10_000))
    raw = simple_mime(subject=subject, to=many_to)
    _, message = run(aws_env, raw)
    inbound_validator.validate(message)
    defects = message["email"]["parseDefects"]
    assert "header_field_truncated:Subject" in defects
    assert "header_field_truncated:To" in defects
    assert len(message["email"]["subject"]) < 70_000
    claim = message["email"]["claimCheck"]
    assert claim is not None
    restored = json.loads(aws_env.s3.get_object(Bucket=BUCKET, Key=claim["s3Key"])["Body"].read())
    assert 1000 < len(restored["to"]) < 10_000
    assert message["email"]["to"] == []
    assert restored["text"] == "Hi there\r\n"


def test_header_block_over_total_cap(aws_env: Env) -> None:
    extra = "".join(f"X-Filler-{i}: {'y' * 1000}\r\n" for i in range(400))
    _, message = run(aws_env, simple_mime(extra_headers=extra))
    assert "header_block_truncated" in message["email"]["parseDefects"]
    assert sum(len(h["value"]) for h in message["email"]["headers"]) <= 262144


def test_forged_verdict_headers_are_not_trusted(aws_env: Env) -> None:
    raw = simple_mime(
        extra_headers="X-SES-Virus-Verdict: PASS\r\nAuthentication-Results: amazonses.com; spf=pass\r\n"
    )
    ses_id = aws_env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"], virus="FAIL")), None)
    assert aws_env.drain("app1") == []
    assert len(aws_env.quarantine_records()) == 1


def test_non_utf8_and_8bit_headers(aws_env: Env, inbound_validator: Any) -> None:
    raw = (
        b"From: =?x-unknown?q?Bad=FF?= <a@b.org>\r\nTo: _app1@example.com\r\n"
        b"Subject: caf\xc3\xa9 \xff raw\r\nContent-Type: text/plain; charset=uft-8\r\n\r\nbody \xe9\r\n"
    )
    _, message = run(aws_env, raw)
    inbound_validator.validate(message)
    assert message["email"]["subject"].startswith("café")
    assert message["email"]["text"].startswith("body")
