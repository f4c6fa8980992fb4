"""The web inbox's application against moto in process (werkzeug's test client): who may see and change
what, the headers every answer carries, that showing a queue never receives from it, and that nothing a
mail holds reaches a page unescaped. The browser tests (test_ui_browser.py) run the same pages in Chromium.

AWS behaviour relied on: ReceiveMessage increments a message's ApproximateReceiveCount and, past the
queue's maxReceiveCount, moves it to the dead-letter queue (so reading must not receive).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from mailflow_cli.aws import AwsTarget
from mailflow_cli.errors import UsageError
from mailflow_cli.local.faults import parse_rules
from mailflow_cli.local.outbox import OutboxStore
from mailflow_cli.local.ui import queue_contents
from mailflow_cli.local.ui.actions import MailForm
from mailflow_cli.local.ui.app import BODY_CSP, PAGE_CSP, UiSources
from mailflow_cli.local.ui.mail_view import TEXT_LIMIT
from mailflow_cli.local.ui.sanitize import clean_html
from mailflow_cli.local.ui.server import guarded_ui
from mailflow_cli.local.ui.session import CSRF_FIELD, UiSession
from mailflow_cli.local.ui.stacks import Stack

from .conftest import REGION

PORT = 18025
ACCOUNT = "123456789012"
BUCKET = f"mailflow-dev-{ACCOUNT}-{REGION}"
TOKEN = "the-start-token"
HOSTILE = '<script>window.top.pwned=1</script><img src=x onerror="alert(1)">javascript:alert(2)'
RUNTIME_CONFIG: dict[str, Any] = {
    "environment": "dev",
    "region": REGION,
    "accountId": ACCOUNT,
    "domains": ["example.com"],
    "apps": {"app1": {"queue": "mailflow-dev-app-app1"}},
    "queues": {
        "default": "mailflow-dev-default",
        "outbound": "mailflow-dev-outbound",
        "inboundDlq": "mailflow-dev-inbound-dlq",
        "appsDlq": "mailflow-dev-apps-dlq",
        "outboundDlq": "mailflow-dev-outbound-dlq",
        "sesEvents": "mailflow-dev-ses-events",
    },
    "bucket": BUCKET,
    "prefixes": {
        "raw": "raw/",
        "attachments": "attachments/",
        "claims": "claims/",
        "rawCopies": "raw-copies/",
    },
}


@dataclass(frozen=True)
class RuleStatus:
    rule: str
    kind: str
    injected: int


@dataclass(frozen=True)
class FaultStatus:
    seed: int
    rules: tuple[RuleStatus, ...]
    injected: int = 0


class Faults:
    """The emulator's fault settings as the page sees them (``FaultControl``'s API): rules are parsed with
    the fault rules' own parser, so a malformed one is refused the way the emulator refuses it."""

    def __init__(self) -> None:
        self.current = FaultStatus(seed=0, rules=())

    def set(self, texts: Sequence[str], seed: int = 0) -> FaultStatus:
        rules = parse_rules(tuple(texts))
        self.current = FaultStatus(seed, tuple(RuleStatus(rule.to_text(), "aws", 0) for rule in rules))
        return self.current

    def clear(self) -> FaultStatus:
        return self.set([], self.current.seed)

    def status(self) -> FaultStatus:
        return self.current

    @property
    def rules(self) -> list[str]:
        return [rule.rule for rule in self.current.rules]


class FixedStacks:
    def __init__(self, stacks: list[Stack]) -> None:
        self._stacks = stacks

    def stacks(self) -> list[Stack]:
        return self._stacks


class Inbox:
    """The application with one deployed stack's queues and bucket in moto, and a signed-in client."""

    def __init__(self, aws: dict[str, Any], home: Path) -> None:
        self.sqs = aws["sqs"]
        self.s3 = aws["s3"]
        self.stack = Stack.from_runtime_config("mailflow-dev-handler", RUNTIME_CONFIG)
        dlq = self.sqs.create_queue(QueueName="mailflow-dev-apps-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": 1})
        self.urls = {"mailflow-dev-apps-dlq": dlq}
        for queue in self.stack.queues:
            if queue.name not in self.urls:
                attributes = {"RedrivePolicy": policy} if queue.kind == "app" else {}
                created = self.sqs.create_queue(QueueName=queue.name, Attributes=attributes)
                self.urls[queue.name] = created["QueueUrl"]
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.faults = Faults()
        self.session = UiSession(port=PORT, token=TOKEN)
        sources = UiSources(
            session=self.session,
            stacks=FixedStacks([self.stack]),  # type: ignore[arg-type]
            s3=self.s3,
            outbox=OutboxStore(home / "outbox"),
            account_id=ACCOUNT,
            region=REGION,
            smtp_host="127.0.0.1",
            smtp_port=1,
            aws_target=AwsTarget(region=REGION),
            faults=self.faults,
        )
        self.app = guarded_ui(PORT, sources)

    def client(self, *, signed_in: bool = True) -> Client:
        client = Client(self.app)
        if signed_in:
            assert self.get(client, f"/?token={TOKEN}").status_code == 303
        return client

    def get(self, client: Client, path: str, **headers: str) -> TestResponse:
        return client.get(path, base_url=f"http://127.0.0.1:{PORT}", headers=headers)

    def post(self, client: Client, path: str, data: dict[str, str], **headers: str) -> TestResponse:
        return client.post(path, base_url=f"http://127.0.0.1:{PORT}", data=data, headers=headers)

    def put_inbound(self, queue: str = "mailflow-dev-app-app1", **email: Any) -> str:
        ses_id = uuid.uuid4().hex
        self.s3.put_object(Bucket=BUCKET, Key=f"raw/{ses_id}", Body=b"Subject: raw\r\n\r\nthe raw MIME\r\n")
        body = {
            "version": "1.1",
            "type": "inbound.email",
            "app": "app1",
            "email": {
                "subject": "hello",
                "from": {"address": "alice@sender.example", "name": "Alice"},
                "to": [{"address": "_app1@example.com"}],
                "text": "the text",
                "html": "<p>the html</p>",
                "attachments": [],
                **email,
            },
            "metadata": {"sesMessageId": ses_id, "s3Bucket": BUCKET, "s3ObjectKey": f"raw/{ses_id}"},
        }
        sent = self.sqs.send_message(QueueUrl=self.urls[queue], MessageBody=json.dumps(body))
        return str(sent["MessageId"])


@pytest.fixture
def inbox(aws: dict[str, Any], tmp_path: Path) -> Inbox:
    return Inbox(aws, tmp_path)


def message_path(message_id: str, queue: str = "mailflow-dev-app-app1") -> str:
    return f"/queues/{queue}/messages/{message_id}"


# who may see and change what -------------------------------------------------------------------------------
def test_without_the_session_cookie_a_page_says_how_to_sign_in_and_shows_nothing(inbox: Inbox) -> None:
    inbox.put_inbound(subject="secret subject")
    client = inbox.client(signed_in=False)
    for path in ("/", "/queues/mailflow-dev-app-app1", "/outbox", "/api/changes"):
        response = inbox.get(client, path)
        assert response.status_code == 401
        assert "mailflow local start" in response.text
        assert "secret subject" not in response.text
        assert "mailflow-dev-app-app1" not in response.text


def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_address_bar(inbox: Inbox) -> None:
    client = inbox.client(signed_in=False)
    response = inbox.get(client, f"/queues/mailflow-dev-app-app1?token={TOKEN}&x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/queues/mailflow-dev-app-app1?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"mailflow_ui_{PORT}={inbox.session.secret};")
    assert {"HttpOnly", "Path=/", "SameSite=Strict"} <= {part.strip() for part in cookie.split(";")}
    assert TOKEN not in cookie
    assert inbox.get(client, "/").status_code == 200


def test_a_token_of_another_start_signs_nobody_in(inbox: Inbox) -> None:
    client = inbox.client(signed_in=False)
    response = inbox.get(client, "/?token=an-old-token")
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert inbox.get(client, "/").status_code == 401


def _csrf(inbox: Inbox) -> dict[str, str]:
    return {CSRF_FIELD: inbox.session.csrf_token}


REFUSED_POSTS = {
    "no cookie": (False, True, {}, 401),
    "no CSRF token": (True, False, {}, 403),
    "wrong CSRF token": (True, None, {}, 403),
    "a cross-site Origin": (True, True, {"Origin": "http://evil.example"}, 403),
    "another port's Origin": (True, True, {"Origin": "http://127.0.0.1:3000"}, 403),
    "a cross-site fetch": (True, True, {"Sec-Fetch-Site": "cross-site"}, 403),
    "a same-site fetch from another port": (True, True, {"Sec-Fetch-Site": "same-site"}, 403),
    "a rebound Host": (True, True, {"Host": f"evil.example:{PORT}"}, 403),
}


@pytest.mark.parametrize("case", REFUSED_POSTS, ids=list(REFUSED_POSTS))
def test_a_state_change_without_cookie_csrf_token_and_own_origin_is_refused_and_changes_nothing(
    inbox: Inbox, case: str
) -> None:
    signed_in, with_csrf, headers, status = REFUSED_POSTS[case]
    client = inbox.client(signed_in=signed_in)
    form = {"rules": "sqs:SendMessage=always:ServiceUnavailable"}
    if with_csrf:
        form.update(_csrf(inbox))
    elif with_csrf is None:
        form[CSRF_FIELD] = "0" * 64
    dead = inbox.put_inbound(queue="mailflow-dev-apps-dlq")
    assert inbox.post(client, "/faults", form, **headers).status_code == status
    assert inbox.faults.rules == []
    redrive = inbox.post(client, "/queues/mailflow-dev-apps-dlq/redrive", dict(form), **headers)
    assert redrive.status_code == status
    send = inbox.post(client, "/send", {**form, "from": "a@b.example", "to": "_app1@example.com"}, **headers)
    assert send.status_code == status
    contents = queue_contents.read_queue(ACCOUNT, REGION, "mailflow-dev-apps-dlq")
    assert [message.message_id for message in contents.messages] == [dead]


def test_the_same_form_with_cookie_csrf_token_and_own_origin_is_accepted(inbox: Inbox) -> None:
    client = inbox.client()
    form = {"rules": "sqs:SendMessage=always:ServiceUnavailable", "seed": "7", **_csrf(inbox)}
    response = inbox.post(
        client, "/faults", form, Origin=f"http://127.0.0.1:{PORT}", **{"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 200
    assert inbox.faults.rules == ["sqs:SendMessage=always:ServiceUnavailable"]
    assert inbox.faults.current.seed == 7
    assert "sqs:SendMessage=always:ServiceUnavailable" in response.text
    cleared = inbox.post(client, "/faults", {"clear": "1", "rules": "", **_csrf(inbox)})
    assert cleared.status_code == 200
    assert inbox.faults.rules == []


def test_a_bad_fault_rule_is_named_escaped_and_changes_nothing(inbox: Inbox) -> None:
    inbox.faults.set(["s3:GetObject=0.1:SlowDown"])
    client = inbox.client()
    response = inbox.post(client, "/faults", {"rules": "sqs:<script>=1:X", **_csrf(inbox)})
    assert response.status_code == 400
    assert "&lt;script&gt;" in response.text
    assert "<script>=" not in response.text
    assert inbox.faults.rules == ["s3:GetObject=0.1:SlowDown"]


def test_gets_change_nothing(inbox: Inbox) -> None:
    client = inbox.client()
    response = inbox.get(
        client,
        "/faults?rules=sqs:SendMessage=always:ServiceUnavailable&"
        + CSRF_FIELD
        + "="
        + inbox.session.csrf_token,
    )
    assert response.status_code == 200
    assert inbox.faults.rules == []
    assert inbox.get(client, "/queues/mailflow-dev-apps-dlq/redrive").status_code == 405


# headers ---------------------------------------------------------------------------------------------------
def test_every_page_carries_the_strict_content_security_policy(inbox: Inbox) -> None:
    message = inbox.put_inbound()
    client = inbox.client()
    for path in (
        "/",
        "/queues/mailflow-dev-app-app1",
        message_path(message),
        "/outbox",
        "/send",
        "/faults",
        "/no-such-page",
        "/api/changes",
    ):
        response = inbox.get(client, path)
        assert response.headers["Content-Security-Policy"] == PAGE_CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_html_body_has_a_sandbox_csp_without_network_or_script(inbox: Inbox) -> None:
    message = inbox.put_inbound(
        html=f"<p>hi</p>{HOSTILE}<img src='https://tracker.example/p.gif'><a href='javascript:alert(3)'>x</a>"
    )
    response = inbox.get(inbox.client(), message_path(message) + "/body.html")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == BODY_CSP
    assert response.mimetype == "text/html"
    assert "<p>hi</p>" in response.text
    for forbidden in ("<script", "onerror", "javascript:alert(3)", "tracker.example"):
        assert forbidden not in response.text


# reading without consuming ---------------------------------------------------------------------------------
def test_showing_a_queue_and_its_messages_never_receives_them(inbox: Inbox) -> None:
    """maxReceiveCount is 1: one receive by the inbox would hide the message, a second dead-letter it."""
    message = inbox.put_inbound()
    client = inbox.client()
    for _ in range(3):
        for path in (
            "/",
            "/queues/mailflow-dev-app-app1",
            message_path(message),
            message_path(message) + "/raw",
        ):
            assert inbox.get(client, path).status_code == 200
    url = inbox.urls["mailflow-dev-app-app1"]
    received = inbox.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [(m["MessageId"], m["Attributes"]["ApproximateReceiveCount"]) for m in received] == [
        (message, "1")
    ]
    assert queue_contents.read_queue(ACCOUNT, REGION, "mailflow-dev-apps-dlq").messages == ()


def test_the_overview_lists_every_queue_with_its_depth_and_highlights_a_dead_letter_queue(
    inbox: Inbox,
) -> None:
    inbox.put_inbound()
    inbox.put_inbound()
    inbox.put_inbound(queue="mailflow-dev-apps-dlq")
    page = inbox.get(inbox.client(), "/").text
    for queue in inbox.stack.queues:
        assert f'data-queue="{queue.name}"' in page
    assert '<a href="/queues/mailflow-dev-ses-events">ses-events</a>' in page
    assert '<a href="/queues/mailflow-dev-ses-events-dlq">dlq:events</a>' in page
    assert 'class="dlq alert" data-queue="mailflow-dev-apps-dlq"' in page
    assert 'class="dlq" data-queue="mailflow-dev-inbound-dlq"' in page
    row = page.split('data-queue="mailflow-dev-app-app1"')[1].split("</tr>")[0]
    assert '<td class="n depth">2</td>' in row


def test_the_live_version_changes_when_a_message_arrives(inbox: Inbox) -> None:
    client = inbox.client()
    before = inbox.get(client, "/api/changes").json["version"]
    assert inbox.get(client, "/api/changes").json["version"] == before
    inbox.put_inbound()
    assert inbox.get(client, "/api/changes").json["version"] != before


class Elements(HTMLParser):
    """Every element of a page with its attributes: what a browser would build from it."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def scripts(self) -> list[dict[str, str | None]]:
        return [attributes for tag, attributes in self.found if tag == "script"]

    def handlers(self) -> list[str]:
        return [name for _, attributes in self.found for name in attributes if name.startswith("on")]

    def urls(self) -> list[str]:
        return [
            str(value)
            for _, attributes in self.found
            for name, value in attributes.items()
            if name in ("href", "src", "action") and value
        ]


# what a mail holds -----------------------------------------------------------------------------------------
def test_every_string_from_a_mail_is_escaped(inbox: Inbox) -> None:
    message = inbox.put_inbound(
        subject=HOSTILE,
        **{"from": {"address": "x@example.net", "name": HOSTILE}},
        text=HOSTILE,
        attachments=[
            {
                "index": 0,
                "filename": HOSTILE,
                "safeFilename": "x.html",
                "contentType": "text/html",
                "size": 3,
                "s3Bucket": BUCKET,
                "s3Key": "attachments/app1/x/0-x.html",
            }
        ],
    )
    client = inbox.client()
    for path in ("/queues/mailflow-dev-app-app1", message_path(message)):
        page = inbox.get(client, path).text
        elements = Elements(page)
        assert elements.scripts() == [{"src": "/static/live.js", "defer": None}]
        assert elements.handlers() == []
        assert not [url for url in elements.urls() if "javascript:" in url.lower() or url.startswith("x")]
        assert "&lt;script&gt;window.top.pwned=1&lt;/script&gt;" in page


def test_a_long_text_body_is_capped_on_the_page(inbox: Inbox) -> None:
    message = inbox.put_inbound(text="x" * (3 * TEXT_LIMIT))
    page = inbox.get(inbox.client(), message_path(message)).text
    assert "Truncated at 64 KB of 192.0 KB" in page
    assert len(page.encode()) < 2 * TEXT_LIMIT + 16 * 1024  # the text and the message's JSON, each capped


def test_attachments_download_and_never_render(inbox: Inbox) -> None:
    key = "attachments/app1/ses1/0-page.html"
    inbox.s3.put_object(Bucket=BUCKET, Key=key, Body=b"<script>alert(1)</script>")
    item = {
        "index": 0,
        "filename": "page.html",
        "safeFilename": "page.html",
        "contentType": "text/html",
        "size": 25,
        "s3Bucket": BUCKET,
        "s3Key": key,
    }
    message = inbox.put_inbound(attachments=[item])
    response = inbox.get(inbox.client(), message_path(message) + "/attachments/0")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == b"<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        (BUCKET, "quarantine/x.eml"),
        ("another-bucket", "attachments/app1/x/0-a"),
        (BUCKET, "attachments/../raw/x"),
    ],
)
def test_a_message_cannot_steer_the_inbox_to_other_objects(inbox: Inbox, bucket: str, key: str) -> None:
    if bucket == BUCKET:
        inbox.s3.put_object(Bucket=BUCKET, Key=key, Body=b"not for the inbox")
    item = {
        "index": 0,
        "filename": "a",
        "safeFilename": "a",
        "contentType": "text/plain",
        "size": 1,
        "s3Bucket": bucket,
        "s3Key": key,
    }
    message = inbox.put_inbound(attachments=[item])
    response = inbox.get(inbox.client(), message_path(message) + "/attachments/0")
    assert response.status_code == 404
    assert b"not for the inbox" not in response.data


def test_the_raw_mime_is_plain_text_streamed_from_s3(inbox: Inbox) -> None:
    message = inbox.put_inbound()
    response = inbox.get(inbox.client(), message_path(message) + "/raw")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.data == b"Subject: raw\r\n\r\nthe raw MIME\r\n"
    download = inbox.get(inbox.client(), message_path(message) + "/raw?download=1")
    assert download.headers["Content-Disposition"] == f'attachment; filename="{message}.eml"'


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<a href='javascript:alert(1)'>x</a>",
        "<a href=' JaVaScRiPt:alert(1)'>x</a>",
        "<iframe src='https://evil.example'></iframe>",
        "<img src='https://tracker.example/p.gif'>",
        "<p style='background:url(https://tracker.example/p.gif)'>x</p>",
        "<style>@import 'https://evil.example/x.css';</style>",
        "<form action='https://evil.example'><input></form>",
        "<meta http-equiv='refresh' content='0;url=https://evil.example'>",
        "<base href='https://evil.example/'>",
        "<object data='https://evil.example/x.swf'></object>",
    ],
)
def test_the_cleaner_removes_scripts_handlers_and_every_network_load(html: str) -> None:
    cleaned = clean_html(html).lower()
    for forbidden in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "https:",
        "<iframe",
        "<form",
        "<meta",
        "<base",
        "<object",
        "@import",
    ):
        assert forbidden not in cleaned


def test_the_cleaner_keeps_formatting_mailto_links_and_data_images() -> None:
    html = (
        "<p style='color:red'><b>hi</b> <a href='mailto:a@b.example'>m</a>"
        "<img src='data:image/png;base64,AA'></p>"
    )
    assert clean_html(html) == (
        '<p style="color:red"><b>hi</b> <a href="mailto:a@b.example" rel="noopener noreferrer">m</a>'
        '<img src="data:image/png;base64,AA"></p>'
    )


# the test-mail form ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"from": "not an address", "to": "_app1@example.com"}, "From:"),
        ({"from": "a@b.example", "to": ""}, "To:"),
        ({"from": "a@b.example", "to": ", ".join(f"u{i}@example.com" for i in range(51))}, "To: at most 50"),
        ({"from": "a@b.example", "to": "_app1@example.com", "subject": "a\r\nBcc: x@y.example"}, "Subject:"),
        ({"from": "a@b.example", "to": "_app1@example.com", "virus": "MAYBE"}, "verdicts:"),
    ],
)
def test_a_bad_test_mail_form_names_the_field(form: dict[str, str], named: str) -> None:
    with pytest.raises(UsageError, match=named):
        MailForm.from_form(form)


def test_a_bad_test_mail_form_is_answered_400_with_the_reason_escaped(inbox: Inbox) -> None:
    response = inbox.post(
        inbox.client(), "/send", {"from": "<b>bad", "to": "_app1@example.com", **_csrf(inbox)}
    )
    assert response.status_code == 400
    assert "From: &#39;&lt;b&gt;bad&#39; is not one email address" in response.text


def test_the_test_mail_carries_text_html_attachment_and_chosen_verdicts() -> None:
    mail = MailForm.from_form(
        {
            "from": "a@b.example",
            "to": "_app1@example.com",
            "subject": "s",
            "text": "t",
            "html": "<p>h</p>",
            "virus": "FAIL",
            "dmarc": "FAIL",
            "dmarc_policy": "reject",
        },
        attachment_name="n.bin",
        attachment=b"\x00\x01",
    )
    raw = mail.mime()
    assert b"Content-Type: multipart/mixed" in raw
    assert b'filename="n.bin"' in raw
    assert mail.verdicts is not None
    assert "virus=FAIL" in mail.verdicts.as_header()
    assert "dmarc-policy=reject" in mail.verdicts.as_header()


def test_a_seed_that_is_not_a_whole_number_is_named_and_changes_nothing(inbox: Inbox) -> None:
    response = inbox.post(
        inbox.client(), "/faults", {"rules": "s3:GetObject=0.1:SlowDown", "seed": "-1", **_csrf(inbox)}
    )
    assert response.status_code == 400
    assert "the seed &#39;-1&#39; is not a whole number" in response.text
    assert inbox.faults.rules == []


def test_without_fault_injection_the_page_says_so_and_refuses_to_set(inbox: Inbox) -> None:
    inbox.app.app.sources.faults = None  # type: ignore[attr-defined]
    client = inbox.client()
    assert "Fault injection is not available" in inbox.get(client, "/faults").text
    assert inbox.post(client, "/faults", {"rules": "", **_csrf(inbox)}).status_code == 409


def test_an_outbox_message_shows_its_bodies_and_downloads_its_attachment(inbox: Inbox) -> None:
    from email.message import EmailMessage

    from mailflow_cli.local.sent_mail import SentMail

    message = EmailMessage()
    message["From"] = "_app1@example.com"
    message["To"] = "bob@elsewhere.example"
    message["Subject"] = HOSTILE
    message.set_content("plain text")
    message.add_alternative(f"<p>rich</p>{HOSTILE}", subtype="html")
    message.add_attachment(b"\x00bytes", maintype="text", subtype="html", filename=HOSTILE)
    raw = message.as_bytes()
    outbox: OutboxStore = inbox.app.app.sources.outbox  # type: ignore[attr-defined]
    outbox.add(
        SentMail("_app1@example.com", ("bob@elsewhere.example",), raw, "ses-1"),
        {"bob@elsewhere.example": "delivered"},
    )
    client = inbox.client()
    listing = inbox.get(client, "/outbox").text
    assert "&lt;script&gt;window.top.pwned=1&lt;/script&gt;" in listing
    assert Elements(listing).handlers() == []
    page = inbox.get(client, "/outbox/1").text
    assert '<pre class="body text" id="text-body">plain text' in page
    assert Elements(page).scripts() == [{"src": "/static/live.js", "defer": None}]
    assert Elements(page).handlers() == []
    body = inbox.get(client, "/outbox/1/body.html")
    assert body.headers["Content-Security-Policy"] == BODY_CSP
    assert "<p>rich</p>" in body.text
    assert "<script" not in body.text
    assert "onerror" not in body.text
    download = inbox.get(client, "/outbox/1/attachments/0")
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == 'attachment; filename="part-0"'
    assert download.data == b"\x00bytes"
    raw_page = inbox.get(client, "/outbox/1/raw")
    assert raw_page.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raw_page.data == raw
    assert inbox.get(client, "/outbox/2").status_code == 404


@pytest.mark.parametrize("path", ["/", "/queues/mailflow-dev-app-app1"])
def test_a_message_arriving_while_a_page_renders_makes_it_refresh(
    inbox: Inbox, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's version must be taken before its contents are read: a message that arrives after the
    read then changes /api/changes, so the page's script fetches it. (Taken after, the version would
    already count a message the page does not show, and the page would never refresh.)"""
    read = queue_contents.read_queue
    arrived: list[str] = []

    def read_then_arrive(account_id: str, region: str, name: str) -> queue_contents.QueueContents:
        contents = read(account_id, region, name)
        if name == "mailflow-dev-app-app1" and not arrived:
            arrived.append(inbox.put_inbound(subject="arrived while rendering"))
        return contents

    monkeypatch.setattr(queue_contents, "read_queue", read_then_arrive)
    client = inbox.client()
    page = inbox.get(client, path).text
    shown = page.split('data-version="', 1)[1].split('"', 1)[0]
    assert arrived
    assert "arrived while rendering" not in page
    assert inbox.get(client, "/api/changes").json["version"] != shown
