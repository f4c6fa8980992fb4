"""Finding 14: attachment names and stored objects are safe to hand to users.

`filename` stays the sender's (untrusted) value; `safeFilename` is the sanitised name used in the S3 key.
Objects are stored as downloads, and types a browser would run are stored as application/octet-stream
while the JSON keeps the declared type.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mailflow_handler import handler
from mailflow_handler.inbound.attachments import sanitise_filename, stored_content_type

from .conftest import BUCKET, Env, ses_event, ses_record

SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
HOSTILE_NAMES = [
    "../../../raw/victim",
    "..\\..\\windows\\system32\\evil.dll",
    "a\x00b.pdf",
    "invoice\u202efdp.exe",
    "\u2024\u2024\u2215etc\u2215passwd",
    "%2e%2e%2fsecret",
    ".bashrc",
    "...",
    "CON",
    "nul.txt",
    "Com1.log",
    "x" * 5000 + ".pdf",
    "\u00e9t\u00e9.pdf",
    "\r\nbcc.txt",
    "",
]


def one_attachment(filename: str, content_type: str = "application/pdf") -> bytes:
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "From: a@sender.org\r\nTo: _app1@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        f'--b\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename="{quoted}"\r\n\r\n'
        "data\r\n--b--\r\n"
    ).encode("utf-8", "surrogateescape")


def stored(env: Env, raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    ses_id = env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (message,) = env.drain("app1")
    (att,) = message["email"]["attachments"]
    return att, env.s3.get_object(Bucket=BUCKET, Key=att["s3Key"])


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_safe_filename_is_safe_whatever_the_sender_wrote(name: str) -> None:
    safe = sanitise_filename(name, 3, "application/pdf")
    assert SAFE.fullmatch(safe), safe
    assert ".." not in safe
    assert not re.fullmatch(r"(?i)(con|prn|aux|nul|com\d|lpt\d)(\..*)?", safe)


def test_the_message_carries_both_names(aws_env: Env, inbound_validator: Any) -> None:
    ses_id = aws_env.put_raw(one_attachment("../../../raw/victim"))
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (message,) = aws_env.drain("app1")
    inbound_validator.validate(message)
    (att,) = message["email"]["attachments"]
    assert att["filename"] == "../../../raw/victim"
    assert att["safeFilename"] == "victim"
    assert att["s3Key"] == f"attachments/app1/{ses_id}/0-victim"


def test_control_and_bidi_characters_stay_out_of_safe_filename(aws_env: Env) -> None:
    raw = one_attachment("x").replace(b'filename="x"', b"filename*=utf-8''invoice%E2%80%AE%00fdp.exe")
    att, _ = stored(aws_env, raw)
    assert att["filename"] == "invoice\u202e\x00fdp.exe"
    assert att["safeFilename"] == "invoice_fdp.exe"


ACTIVE = [
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/rss+xml",
    "text/xsl",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/vbscript",
    "text/x-component",
    "application/x-shockwave-flash",
]
PASSIVE = ["application/pdf", "image/png", "text/plain", "text/csv", "application/zip"]


@pytest.mark.parametrize("content_type", ACTIVE)
def test_active_types_are_stored_as_octet_stream_and_kept_in_the_json(
    aws_env: Env, content_type: str
) -> None:
    att, obj = stored(aws_env, one_attachment("page.bin", content_type))
    assert att["contentType"] == content_type
    assert obj["ContentType"] == "application/octet-stream"
    assert obj["ContentDisposition"] == 'attachment; filename="page.bin"'


@pytest.mark.parametrize("content_type", PASSIVE)
def test_passive_types_keep_their_type_and_are_downloads(aws_env: Env, content_type: str) -> None:
    _, obj = stored(aws_env, one_attachment("file.dat", content_type))
    assert obj["ContentType"] == content_type
    assert obj["ContentDisposition"] == 'attachment; filename="file.dat"'


@pytest.mark.parametrize("content_type", [t.upper() for t in ACTIVE[:3]] + ["Text/HTML; charset=utf-8"])
def test_active_types_in_any_case_are_caught(content_type: str) -> None:
    from mailflow_handler.inbound.parse import parse

    (att,) = parse(one_attachment("x", content_type)).attachments
    assert stored_content_type(att.content_type) == "application/octet-stream"
