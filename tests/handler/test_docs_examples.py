"""docs/messages.md shows messages this code produced.

MAILFLOW_REGEN_DOCS=1 pytest tests/handler/test_docs_examples.py rewrites the examples; otherwise the
test checks that the documented examples validate and have the shape the code produces today.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

from mailflow_handler import handler

from .conftest import (
    BUCKET,
    CONFIGURATION_SET,
    Env,
    ses_event,
    ses_record,
    sqs_event,
    sqs_records,
    validator,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "messages.md"
BLOCK = re.compile(
    r"(<!-- example:(?P<name>[a-z-]+) -->\n```json\n)(?P<body>.*?)(\n```\n<!-- /example -->)", re.S
)
SCHEMAS = {
    "inbound": "inbound-email.schema.json",
    "outbound": "outbound-email.schema.json",
    "status": "outbound-status.schema.json",
    "failure": "inbound-failure.schema.json",
    "event": "outbound-event.schema.json",
}
# AWS's documented Bounce event (tests/handler/ses_events/bounce.json) for the email sent above.
BOUNCE = Path(__file__).resolve().parent / "ses_events" / "bounce.json"

RAW = (
    "From: =?utf-8?q?Ana_G=C3=B3mez?= <ana@customer.example.net>\r\n"
    "To: Support <_app1+ticket-42@example.com>\r\n"
    "Subject: =?utf-8?q?Invoice_question_=E2=80=93_March?=\r\n"
    "Date: Fri, 01 Mar 2024 09:30:00 +0100\r\n"
    "Message-ID: <CAF=abc123@mail.customer.example.net>\r\n"
    "In-Reply-To: <msg-1@example.com>\r\n"
    "References: <msg-1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    "--b1\r\n"
    'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n'
    "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, see the attached invoice.\r\n"
    "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, see the attached invoice.</p>\r\n"
    "--b2--\r\n"
    "--b1\r\n"
    'Content-Type: application/pdf; name="invoice-march.pdf"\r\n'
    'Content-Disposition: attachment; filename="invoice-march.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4 example").decode() + "\r\n"
    "--b1--\r\n"
).encode()

OUTBOUND: dict[str, Any] = {
    "version": "1.0",
    "correlationId": "reply-42",
    "timestamp": "2024-03-01T09:31:00Z",
    "source": "app1",
    "email": {
        "from": {"address": "_app1@example.com", "name": "Support"},
        "to": [{"address": "ana@customer.example.net", "name": "Ana Gómez"}],
        "cc": [{"address": "billing@example.com"}],
        "bcc": [{"address": "audit@example.com"}],
        "replyTo": {"address": "_app1+ticket-42@example.com"},
        "subject": "Re: Invoice question – March",
        "body": {
            "text": "Hi Ana, the invoice is attached.",
            "html": "<p>Hi Ana, the invoice is attached.</p>",
        },
        "headers": {"inReplyTo": "CAF=abc123@mail.customer.example.net", "X-Ticket": "42"},
        "attachments": [
            {
                "bucket": BUCKET,
                "key": "outbound/app1/invoice-march.pdf",
                "filename": "invoice-march.pdf",
                "contentType": "application/pdf",
            }
        ],
    },
}


def generate(env: Env) -> dict[str, Any]:
    ses_id = env.put_raw(RAW, "o3lo2jd1a8bqnhq4e2es3c0g3qk5q0fqnpk1ms01")
    handler(
        ses_event(ses_record(ses_id, ["_app1+ticket-42@example.com"], source="ana@customer.example.net")),
        None,
    )
    inbound = env.drain("app1")[0]
    env.s3.put_object(Bucket=BUCKET, Key="outbound/app1/invoice-march.pdf", Body=b"%PDF-1.4 example")
    handler(sqs_event([OUTBOUND]), None)
    status = env.drain("app1")[0]
    bounce = json.loads(BOUNCE.read_text())
    bounce["mail"]["messageId"] = status["sesMessageId"]
    bounce["mail"]["source"] = "_app1@example.com"
    bounce["mail"]["destination"] = ["ana@customer.example.net", "billing@example.com", "audit@example.com"]
    bounce["mail"]["tags"].update(
        {"ses:configuration-set": [CONFIGURATION_SET], "mailflow-app": ["app1"], "mailflow-cid": ["reply-42"]}
    )
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = "ana@customer.example.net"
    handler(sqs_records([json.dumps(bounce)], "sesEvents"), None)
    event = env.drain("app1")[0]
    handler(ses_event(ses_record("missing-raw-object", ["_app2@example.com"])), None)
    failure = env.drain("inboundDlq")[0]
    return {"inbound": inbound, "outbound": OUTBOUND, "status": status, "failure": failure, "event": event}


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_docs_examples_match_code(aws_env: Env) -> None:
    produced = generate(aws_env)
    text = DOC.read_text()
    if os.environ.get("MAILFLOW_REGEN_DOCS") == "1":

        def replace(match: re.Match[str]) -> str:
            body = json.dumps(produced[match.group("name")], indent=2, ensure_ascii=False)
            return match.group(1) + body + match.group(4)

        text = BLOCK.sub(replace, text)
        DOC.write_text(text)
    documented = {m.group("name"): json.loads(m.group("body")) for m in BLOCK.finditer(text)}
    assert set(documented) == set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        validator(schema).validate(documented[name])
        validator(schema).validate(produced[name])
        assert shape(documented[name]) == shape(produced[name]), name
