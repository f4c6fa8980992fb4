"""The web inbox in a real browser: Debian's Chromium, headless, driven by Playwright for Python, against
an emulator started with `mailflow local start --ui-port` with the example config deployed (test_e2e's
fixture). Chromium comes from the system (`make test` installs Debian's `chromium` when it is missing);
Playwright never downloads a browser here.

MAILFLOW_REGEN_DOCS=1 also writes the screenshots to docs/images/ (embedded in docs/local.md).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Download, Locator, Page, sync_playwright

from mailflow_cli.local.ports import free_port
from mailflow_cli.local.send import send_message

from .test_e2e import DOMAIN, REPO, Stack, mailflow, outbound_request, stack

__all__ = ["stack"]  # pytest finds the fixture here: test_e2e's emulator with the example deployed

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000
APP1 = "mailflow-dev-app-app1"
APPS_DLQ = "mailflow-dev-apps-dlq"
SCREENSHOT_LIMIT = 150 * 1024
HOSTILE_HTML = (
    "<p>Hello</p><script>parent.pwned = 1; alert('script')</script>"
    "<img src=x onerror=\"parent.pwned = 2; alert('onerror')\">"
    "<a href=\"javascript:parent.pwned = 3; alert('link')\">click me</a>"
    "<img src='http://127.0.0.1:9/tracker.gif'>"
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def ui(stack: Stack) -> str:
    """The web inbox's base URL (the emulator printed it with the sign-in token)."""
    assert stack.state.ui_url is not None
    return stack.state.ui_url.split("/?", 1)[0]


@pytest.fixture
def page(browser: BrowserContext, stack: Stack) -> Iterator[Page]:
    """A tab signed in with the printed link; every dialog a script opens is recorded (and dismissed)."""
    tab = browser.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    assert stack.state.ui_url is not None
    response = tab.goto(stack.state.ui_url)
    assert response is not None
    assert response.ok
    assert "token=" not in tab.url
    try:
        yield tab
    finally:
        tab.close()


def mail(
    subject: str,
    *,
    html: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    sender: str = "Alice <alice@sender.example>",
    text: str = "Hello from the browser test.\n",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"_app1@{DOMAIN}"
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if attachment is not None:
        message.add_attachment(
            attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0]
        )
    return message.as_bytes()


def deliver(stack: Stack, raw: bytes) -> str:
    sent = send_message(raw, host=stack.state.smtp_host, port=stack.state.smtp_port)
    assert sent.accepted == [f"_app1@{DOMAIN}"]
    return sent.message_id


def subject_link(page: Page, text: str) -> Locator:
    return page.locator("td.subject a", has_text=text)


def open_message(page: Page, ui: str, subject: str, queue: str = APP1) -> None:
    """The queue's page updates itself: wait for the subject, then open the message."""
    page.goto(f"{ui}/queues/{queue}")
    link = subject_link(page, subject)
    link.wait_for(timeout=WAIT_MS)
    link.click()
    page.wait_for_selector("#payload")


def depth(stack: Stack, queue: str) -> int:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def dead_letter(stack: Stack, body: dict[str, Any], queue: str = "mailflow-dev-app-app2") -> None:
    """Receive a message past the queue's maxReceiveCount (5), so SQS moves it to the apps DLQ."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    for _ in range(6):
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, MaxNumberOfMessages=10, WaitTimeSeconds=0)


# pages -------------------------------------------------------------------------------------------------
def test_the_overview_lists_every_queue_with_its_depth(page: Page, stack: Stack) -> None:
    rows = page.locator("tr[data-queue]")
    names = rows.evaluate_all("rows => rows.map(row => row.dataset.queue)")
    outputs = stack.outputs
    expected = {url.rsplit("/", 1)[1] for url in outputs["appQueueUrls"].values()}
    expected |= {url.rsplit("/", 1)[1] for url in outputs["deadLetterQueueUrls"].values()}
    expected |= {url.rsplit("/", 1)[1] for url in (outputs["defaultQueueUrl"], outputs["outboundQueueUrl"])}
    expected |= (
        {outputs["sesEventsQueueUrl"].rsplit("/", 1)[1]} if outputs.get("sesEventsQueueUrl") else set()
    )
    assert set(names) == expected
    for name in names:
        shown = page.locator(f'tr[data-queue="{name}"] td.depth').inner_text()
        assert int(shown) == depth(stack, name), name
    assert page.locator("tr.dlq").count() == len(outputs["deadLetterQueueUrls"])


def test_a_mail_sent_through_the_smtp_ingress_appears_without_a_reload(
    page: Page, stack: Stack, ui: str
) -> None:
    page.goto(f"{ui}/queues/{APP1}")
    page.evaluate("window.stayed = true")
    subject = f"live {uuid.uuid4().hex[:8]}"
    deliver(stack, mail(subject))
    subject_link(page, subject).wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.stayed") is True


def test_the_message_page_shows_text_sandboxed_html_and_downloads_attachments(
    page: Page, stack: Stack, ui: str, tmp_path: Path
) -> None:
    subject = f"page {uuid.uuid4().hex[:8]}"
    data = os.urandom(3000)
    deliver(stack, mail(subject, html="<p>Hello <b>world</b></p>", attachment=("report.bin", data)))
    open_message(page, ui, subject)
    assert page.locator("#text-body").inner_text().strip() == "Hello from the browser test."
    frame = page.locator("#html-body")
    assert frame.get_attribute("sandbox") == ""
    assert page.frame_locator("#html-body").locator("p").inner_text() == "Hello world"
    with page.expect_download() as event:
        page.locator("a.download").click()
    download: Download = event.value
    assert download.suggested_filename == "report.bin"
    target = tmp_path / "report.bin"
    download.save_as(target)
    assert target.read_bytes() == data
    answer = page.request.get(ui + urlsplit(page.locator("a.download").get_attribute("href") or "").path)
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == 'attachment; filename="report.bin"'
    assert answer.headers["x-content-type-options"] == "nosniff"
    raw = page.request.get(ui + urlsplit(page.locator("#raw-view").get_attribute("href") or "").path)
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert f"Subject: {subject}" in raw.text()


def test_a_hostile_mail_runs_no_script_anywhere(page: Page, stack: Stack, ui: str) -> None:
    marker = f"hostile {uuid.uuid4().hex[:8]}"
    subject = f"<script>window.pwned = 4; alert('subject')</script> {marker}"
    sender = '"<img src=x onerror=\\"window.pwned = 5; alert(\'from\')\\">" <mallory@evil.example>'
    deliver(
        stack,
        mail(
            subject,
            sender=sender,
            text="<script>window.pwned = 6; alert('text')</script>",
            html=HOSTILE_HTML,
            attachment=(
                "<img src=x onerror=\"window.pwned = 7; alert('file')\">.html",
                b"<script>alert(8)</script>",
            ),
        ),
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    open_message(page, ui, marker)
    assert page.locator("dd.subject").inner_text() == subject
    assert "onerror" in page.locator("dd.from").inner_text()
    page.frame_locator("#html-body").get_by_text("click me").click()
    page.goto(f"{ui}/queues/{APP1}")
    page.wait_for_timeout(1000)
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("window.pwned") is None
    assert not [url for url in requested if not url.startswith(ui)], "a page loaded something from elsewhere"


def test_a_page_of_another_origin_cannot_change_anything(page: Page, stack: Stack, ui: str) -> None:
    """A form on another local port (same site, other origin) posts to the inbox: the Origin check refuses
    it although SameSite=Strict lets the browser send the cookie along."""
    subject = f"forged {uuid.uuid4().hex[:8]}"
    port = free_port()
    attack = (
        f'<form id=f method=post action="{ui}/send"><input name=from value=a@evil.example>'
        f'<input name=to value="_app1@{DOMAIN}"><input name=subject value="{subject}">'
        '<input name=csrf value=guess></form><script>document.getElementById("f").submit()</script>'
    ).encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(attack)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with page.expect_response(f"{ui}/send") as posted:
            page.goto(f"http://127.0.0.1:{port}/")
        assert posted.value.status == 403
    finally:
        server.shutdown()
        server.server_close()
    page.goto(f"{ui}/queues/{APP1}")
    page.wait_for_timeout(2000)
    assert subject_link(page, subject).count() == 0


# buttons -----------------------------------------------------------------------------------------------
def test_the_send_form_delivers_a_test_mail(page: Page, ui: str) -> None:
    subject = f"form {uuid.uuid4().hex[:8]}"
    page.goto(f"{ui}/send")
    page.fill("input[name=to]", f"_app1@{DOMAIN}")
    page.fill("input[name=subject]", subject)
    page.fill("textarea[name=html]", "<p>from the form</p>")
    page.click("#send")
    assert page.locator("#send-result").inner_text().startswith(f"Accepted for _app1@{DOMAIN} as ")
    open_message(page, ui, subject)
    assert page.frame_locator("#html-body").locator("p").inner_text() == "from the form"


def test_the_redrive_button_returns_dead_letters_to_their_queue(page: Page, stack: Stack, ui: str) -> None:
    correlation = uuid.uuid4().hex
    dead_letter(stack, {"type": "probe", "reason": f"poison {correlation}"}, queue="mailflow-dev-default")
    assert depth(stack, APPS_DLQ) == 1
    page.goto(f"{ui}/queues/{APPS_DLQ}")
    subject_link(page, f"poison {correlation}").wait_for(timeout=WAIT_MS)
    page.click("#redrive")
    assert page.locator("#redrive-result").inner_text() == "Method: copy. Moved: 1 to mailflow-dev-default."
    assert depth(stack, APPS_DLQ) == 0
    assert depth(stack, "mailflow-dev-default") == 1


def test_the_faults_page_sets_the_emulators_own_rules(page: Page, stack: Stack, ui: str) -> None:
    """The page drives the emulator's fault control itself: the CLI sees what the page set."""
    page.goto(f"{ui}/faults")
    page.fill("textarea[name=rules]", "s3:GetObjekt=0.1")
    page.click("#set-faults")
    assert "GetObject" in page.locator("#faults-error").inner_text()  # refused, naming the fix
    page.fill("textarea[name=rules]", "sqs:SendMessage=0.2:ServiceUnavailable\nlambda:crash=0.01")
    page.fill("input[name=seed]", "7")
    page.click("#set-faults")
    assert page.locator("#fault-rules tbody tr").count() == 2
    try:
        shown = json.loads(mailflow(stack.home, "local", "faults", "show", "--json").stdout)
        assert shown["seed"] == 7
        assert [rule["rule"] for rule in shown["rules"]] == [
            "sqs:SendMessage=0.2:ServiceUnavailable",
            "lambda:crash=0.01",
        ]
    finally:
        page.click("#clear-faults")
    assert json.loads(mailflow(stack.home, "local", "faults", "show", "--json").stdout)["rules"] == []


# the same requests without a browser -------------------------------------------------------------------
def _request(
    ui: str, method: str, path: str, headers: dict[str, str], body: str = ""
) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(ui)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body.encode(), headers={"Host": parts.netloc, **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def test_posts_over_plain_http_need_cookie_csrf_token_own_origin_and_host(stack: Stack, ui: str) -> None:
    assert stack.state.ui_token is not None
    status, headers, _ = _request(ui, "GET", f"/?token={stack.state.ui_token}", {})
    assert status == 303
    cookie = headers["set-cookie"].split(";", 1)[0]
    status, _, page = _request(ui, "GET", "/send", {"Cookie": cookie})
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert status == 200
    assert csrf is not None
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    subject = f"plain {uuid.uuid4().hex[:8]}"
    fields = urlencode({"from": "a@b.example", "to": f"_app1@{DOMAIN}", "subject": subject})
    own = {"Origin": ui}
    cases = [
        ({**form, **own}, fields + f"&csrf={csrf.group(1)}", 401),
        ({**form, **own, "Cookie": cookie}, fields, 403),
        ({**form, **own, "Cookie": cookie}, fields + "&csrf=" + "0" * 64, 403),
        ({**form, "Cookie": cookie, "Origin": "http://evil.example"}, fields + f"&csrf={csrf.group(1)}", 403),
        ({**form, "Cookie": cookie, "Host": "evil.example"}, fields + f"&csrf={csrf.group(1)}", 403),
        ({**form, "Cookie": cookie, "Sec-Fetch-Site": "cross-site"}, fields + f"&csrf={csrf.group(1)}", 403),
    ]
    for headers_sent, body, expected in cases:
        assert _request(ui, "POST", "/send", headers_sent, body)[0] == expected, headers_sent
    status, _, answer = _request(
        ui, "POST", "/send", {**form, **own, "Cookie": cookie}, fields + f"&csrf={csrf.group(1)}"
    )
    assert f"Accepted for _app1@{DOMAIN}" in answer, answer
    assert status == 200


# a 40 MB message ---------------------------------------------------------------------------------------
def test_a_40_mb_message_page_loads_and_stays_small(page: Page, stack: Stack, ui: str) -> None:
    subject = f"big {uuid.uuid4().hex[:8]}"
    line = "0123456789" * 7 + "abcdef\n"
    text = line * (38 * 1024 * 1024 // len(line))
    deliver(stack, mail(subject, text=text))
    page.goto(f"{ui}/queues/{APP1}")
    subject_link(page, subject).wait_for(timeout=120_000)
    started = time.monotonic()
    subject_link(page, subject).click()
    page.wait_for_selector("#payload")
    loaded = time.monotonic() - started
    content = page.content()
    assert len(content.encode()) < 256 * 1024
    assert re.search(r"Truncated at 64 KB of 3[89]\.\d MB", content)
    assert page.locator("#raw-view").count() == 0  # too large to show: download only
    assert page.locator("#raw-download").count() == 1
    print(f"40 MB message page: {len(content.encode()):,} bytes in {loaded:.2f} s")


# screenshots for docs/local.md -------------------------------------------------------------------------
def test_screenshots_of_the_main_pages(page: Page, stack: Stack, ui: str) -> None:
    subject = "Invoice 2024-031 for March"
    deliver(
        stack,
        mail(
            subject,
            html="<h2 style='color:#0b62a4'>Invoice 2024-031</h2>"
            "<p>Hello, please find the invoice attached.</p><p><b>Total: 1,250.00 EUR</b></p>",
            attachment=("invoice-2024-031.pdf", b"%PDF-1.4 example"),
            text="Hello, please find the invoice attached.\nTotal: 1,250.00 EUR\n",
        ),
    )
    sqs = stack.client("sqs")
    sqs.send_message(
        QueueUrl=stack.outputs["outboundQueueUrl"],
        MessageBody=outbound_request("bob@elsewhere.org", "docs-1"),
    )
    dead_letter(stack, {"type": "probe", "reason": "an app could not process this message"})
    shots: dict[str, bytes] = {}
    page.set_viewport_size({"width": 1200, "height": 440})
    open_message(page, ui, subject)
    page.frame_locator("#html-body").locator("h2").wait_for()
    shots["ui-message.png"] = page.screenshot(full_page=True)
    page.goto(f"{ui}/outbox")
    subject_link(page, "outbound docs-1").first.wait_for(timeout=WAIT_MS)
    shots["ui-outbox.png"] = page.screenshot(full_page=True)
    page.goto(f"{ui}/queues/{APPS_DLQ}")
    shots["ui-dlq.png"] = page.screenshot(full_page=True)
    page.goto(f"{ui}/")
    shots["ui-overview.png"] = page.screenshot(full_page=True)
    for name, png in shots.items():
        assert png.startswith(b"\x89PNG"), name
        assert len(png) < SCREENSHOT_LIMIT, f"{name} is {len(png):,} bytes"
        if os.environ.get("MAILFLOW_REGEN_DOCS") == "1":
            (REPO / "docs" / "images" / name).write_bytes(png)
    page.goto(f"{ui}/queues/{APPS_DLQ}")
    page.click("#redrive")
    assert page.locator("#redrive-result").inner_text() == "Method: copy. Moved: 1 to mailflow-dev-app-app2."


# the CLI -----------------------------------------------------------------------------------------------
def test_the_state_file_and_local_status_carry_the_inbox_link(stack: Stack) -> None:
    state = stack.state
    assert state.ui_port is not None
    assert state.ui_url == f"http://127.0.0.1:{state.ui_port}/?token={state.ui_token}"
    shown = mailflow(stack.home, "local", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["uiUrl"] == state.ui_url
    text = mailflow(stack.home, "local", "status")
    assert f"  web       {state.ui_url}" in text.stdout


def test_the_inbox_cannot_share_a_port_with_the_emulator(tmp_path: Path) -> None:
    port = str(free_port())
    result = mailflow(
        tmp_path / "home",
        "local",
        "start",
        "--port",
        port,
        "--smtp-port",
        str(free_port()),
        "--ui-port",
        port,
    )
    assert result.returncode == 2
    assert "--port, --smtp-port and --ui-port must be three different ports" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_inbox_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = ("--port", str(free_port()), "--smtp-port", str(free_port()), "--ui-port", str(port))
        result = mailflow(tmp_path / "home", "local", "start", *ports)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"port {port} on 127.0.0.1 (the web inbox) is already in use" in message
    assert "--ui-port" in message
