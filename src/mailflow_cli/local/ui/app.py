"""The web inbox as a WSGI application (werkzeug): routing, the session check, the security headers.

Pages are rendered server-side by Jinja2 with autoescaping on, so every interpolated string is escaped;
the one script (``static/live.js``) only polls :func:`UiApp.changes` and swaps the page's live region.
Every response carries a strict Content-Security-Policy, ``nosniff``, a same-origin referrer policy and
``no-store``; a mail's HTML body gets a CSP of its own (``sandbox``, no network, no script).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from mailflow_cli.aws import AwsTarget
from mailflow_cli.errors import MailflowError, UsageError
from mailflow_cli.local.guard import Environ, StartResponse
from mailflow_cli.local.outbox import OutboxStore
from mailflow_cli.local.ui import actions, queue_contents
from mailflow_cli.local.ui.mail_view import (
    CLAIM_LIMIT,
    MailView,
    from_inbound,
    from_mime,
    mime_attachment,
    parsed_json,
    pretty_json,
)
from mailflow_cli.local.ui.session import CSRF_FIELD, UiSession
from mailflow_cli.local.ui.stacks import Stack, StackFinder, StackQueue

log = logging.getLogger("mailflow.local.ui")

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
BODY_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
DOWNLOAD_CSP = "sandbox; default-src 'none'"
REFERRER_POLICY = "same-origin"
"""No page address (which names queues and messages) leaves for another origin. Not ``no-referrer``: under
it a browser sends ``Origin: null`` with the inbox's own form posts, which the Origin check must refuse."""
MAX_REQUEST_BYTES = 41 * 1024 * 1024
"""A test mail's form, attachment included, may be as large as SES's 40 MB message limit allows."""
INLINE_RAW_LIMIT = 2 * 1024 * 1024
"""Raw MIME larger than this is offered as a download only."""
STREAM_CHUNK = 64 * 1024
STATIC_FILES = {"live.js": "text/javascript; charset=utf-8", "ui.css": "text/css; charset=utf-8"}


class RuleState(Protocol):
    @property
    def rule(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def injected(self) -> int: ...


class FaultState(Protocol):
    @property
    def seed(self) -> int: ...
    @property
    def rules(self) -> Sequence[RuleState]: ...
    @property
    def injected(self) -> int: ...


class FaultSettings(Protocol):
    """The emulator's fault rules (``mailflow_cli.local.faults.control.FaultControl``), as the faults page
    shows and sets them: ``set`` raises a :class:`MailflowError` naming a malformed rule, changing nothing."""

    def set(self, texts: Sequence[str], seed: int = 0) -> FaultState: ...
    def clear(self) -> FaultState: ...
    def status(self) -> FaultState: ...


@dataclass
class UiSources:
    """Everything the pages read or act on, from the emulator's own parts."""

    session: UiSession
    stacks: StackFinder
    s3: Any
    outbox: OutboxStore
    account_id: str
    region: str
    smtp_host: str
    smtp_port: int
    aws_target: AwsTarget
    faults: FaultSettings | None = None


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} B"
    if count < 1024 * 1024:
        return f"{count / 1024:,.1f} KB"
    return f"{count / 1024 / 1024:,.1f} MB"


def _clock(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%H:%M:%S", time.localtime(timestamp))


def _templates() -> Environment:
    environment = Environment(
        loader=PackageLoader("mailflow_cli.local.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(age=_age, size=_size, clock=_clock)
    return environment


Handler = Callable[..., Response]


class UiApp:
    """The WSGI application; put it behind :class:`~mailflow_cli.local.guard.Guarded` (Host and Origin)."""

    def __init__(self, sources: UiSources) -> None:
        self.sources = sources
        self.session = sources.session
        self.templates = _templates()
        self.routes = Map(
            [
                Rule("/", endpoint=self.overview),
                Rule("/queues/<name>", endpoint=self.queue),
                Rule("/queues/<name>/redrive", endpoint=self.redrive, methods=["POST"]),
                Rule("/queues/<name>/messages/<message_id>", endpoint=self.message),
                Rule("/queues/<name>/messages/<message_id>/body.html", endpoint=self.message_html),
                Rule("/queues/<name>/messages/<message_id>/raw", endpoint=self.message_raw),
                Rule(
                    "/queues/<name>/messages/<message_id>/attachments/<int:index>", endpoint=self.message_file
                ),
                Rule("/outbox", endpoint=self.outbox),
                Rule("/outbox/<int:number>", endpoint=self.outbox_message),
                Rule("/outbox/<int:number>/body.html", endpoint=self.outbox_html),
                Rule("/outbox/<int:number>/raw", endpoint=self.outbox_raw),
                Rule("/outbox/<int:number>/attachments/<int:index>", endpoint=self.outbox_file),
                Rule("/send", endpoint=self.send, methods=["GET", "POST"]),
                Rule("/faults", endpoint=self.faults, methods=["GET", "POST"]),
                Rule("/api/changes", endpoint=self.changes),
                Rule("/static/<file>", endpoint=self.static),
            ],
            strict_slashes=False,
        )

    # WSGI --------------------------------------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        request.max_form_memory_size = MAX_REQUEST_BYTES
        response = self.respond(request)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        try:
            adapter = self.routes.bind_to_environ(request.environ)
            endpoint, values = adapter.match()
            if endpoint == self.static:
                return self.static(values["file"])
            if "token" in request.args:
                return self.login(request)
            if not self.session.cookie_valid(request.cookies.get(self.session.cookie)):
                return self.refuse(
                    401,
                    "Open the web inbox with the link `mailflow local start` printed "
                    "(`mailflow local status` shows it again): it signs this browser in.",
                )
            if request.method == "POST" and not self.session.csrf_valid(request.form.get(CSRF_FIELD)):
                return self.refuse(
                    403,
                    "This form is stale or did not come from the web inbox (its CSRF "
                    "token is missing or wrong): reload the page and try again.",
                )
            handler: Handler = endpoint
            return handler(request, **values)
        except HTTPException as exc:
            return self.refuse(exc.code or 500, exc.description or exc.name)

    # pages -------------------------------------------------------------------------------------------
    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        page = self.templates.get_template(template).render(
            csrf=self.session.csrf_token, csrf_field=CSRF_FIELD, **context
        )
        return secured(Response(page, status=status, mimetype="text/html"))

    def refuse(self, status: int, message: str) -> Response:
        return self.render("refused.html", status=status, status_code=status, message=message)

    def login(self, request: Request) -> Response:
        if not self.session.token_valid(request.args.get("token")):
            return self.refuse(
                403,
                "This link's token is not this emulator's (it changes at every start): "
                "use the link `mailflow local status` shows.",
            )
        others = [(key, value) for key, value in request.args.items(multi=True) if key != "token"]
        target = request.path + (f"?{urlencode(others)}" if others else "")
        response = secured(Response(status=303, headers={"Location": target}))
        response.set_cookie(
            self.session.cookie, self.session.secret, httponly=True, samesite="Strict", path="/"
        )
        return response

    def static(self, file: str) -> Response:  # no session needed: the files are public
        if file not in STATIC_FILES:
            raise NotFound()
        data = resources.files("mailflow_cli.local.ui").joinpath("static", file).read_bytes()
        response = secured(Response(data, mimetype=STATIC_FILES[file].split(";")[0]))
        response.headers["Content-Type"] = STATIC_FILES[file]
        return response

    def _stack_queue(self, name: str) -> tuple[Stack, StackQueue]:
        for stack in self.sources.stacks.stacks():
            queue = stack.queue(name)
            if queue is not None:
                return stack, queue
        raise NotFound(f"No deployed stack has a queue named {name!r}.")

    def _contents(self, name: str) -> queue_contents.QueueContents:
        return queue_contents.read_queue(self.sources.account_id, self.sources.region, name)

    def overview(self, request: Request) -> Response:
        version = self.version()  # before reading: a change after it makes the page refresh itself
        now = time.time()
        stacks = [
            (stack, [(queue, self._contents(queue.name)) for queue in stack.queues])
            for stack in self.sources.stacks.stacks()
        ]
        return self.render(
            "overview.html",
            stacks=stacks,
            now=now,
            outbox=self.sources.outbox.count(),
            region=self.sources.region,
            version=version,
        )

    def queue(self, request: Request, name: str) -> Response:
        stack, queue = self._stack_queue(name)
        version = self.version()  # before reading: a change after it makes the page refresh itself
        contents = self._contents(name)
        rows = [(message, parsed_json(message.body) or {}) for message in reversed(contents.messages)]
        return self.render(
            "queue.html", stack=stack, queue=queue, contents=contents, rows=rows, version=version
        )

    def redrive(self, request: Request, name: str) -> Response:
        stack, queue = self._stack_queue(name)
        if not queue.is_dlq:
            return self.refuse(400, f"{name} is not a dead-letter queue: only those are redriven.")
        try:
            result = actions.redrive(stack, queue, self.sources.aws_target)
        except MailflowError as exc:
            return self.refuse(502, f"The redrive of {name} failed: {explain(exc)}")
        return self.render("redriven.html", stack=stack, queue=queue, result=result)

    def _queued(self, name: str, message_id: str) -> tuple[Stack, StackQueue, queue_contents.QueuedMessage]:
        stack, queue = self._stack_queue(name)
        message = self._contents(name).message(message_id)
        if message is None:
            raise NotFound(
                f"The message {message_id} is no longer on {name} (an app received and "
                "deleted it, or it was redriven)."
            )
        return stack, queue, message

    def _claim(self, stack: Stack, payload: dict[str, Any]) -> dict[str, Any] | None:
        claim = (payload.get("email") or {}).get("claimCheck")
        if not isinstance(claim, dict):
            return None
        location = (str(claim.get("s3Bucket", "")), str(claim.get("s3Key", "")))
        if not stack.owns_key(*location, "claims"):
            return None
        head = self._head(*location)
        if head is None or head > CLAIM_LIMIT:
            return None
        body = self.sources.s3.get_object(Bucket=location[0], Key=location[1])["Body"]
        return parsed_json(body.read().decode("utf-8", "replace"))

    def _mail(self, stack: Stack, payload: dict[str, Any]) -> MailView | None:
        if payload.get("type") != "inbound.email":
            return None
        return from_inbound(payload, self._claim(stack, payload))

    def _raw_location(self, stack: Stack, payload: dict[str, Any]) -> tuple[str, str] | None:
        metadata = payload.get("metadata") or {}
        location = (str(metadata.get("s3Bucket", "")), str(metadata.get("s3ObjectKey", "")))
        return location if stack.owns_key(*location, "raw", "rawCopies") else None

    def _head(self, bucket: str, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.sources.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError:
            return None

    def message(self, request: Request, name: str, message_id: str) -> Response:
        stack, queue, message = self._queued(name, message_id)
        payload = parsed_json(message.body) or {}
        raw = self._raw_location(stack, payload)
        return self.render(
            "message.html",
            stack=stack,
            queue=queue,
            message=message,
            payload=pretty_json(message.body),
            mail=self._mail(stack, payload),
            raw_size=None if raw is None else self._head(*raw),
            inline_raw_limit=INLINE_RAW_LIMIT,
            base=f"/queues/{queue.name}/messages/{message.message_id}",
            now=time.time(),
        )

    def message_html(self, request: Request, name: str, message_id: str) -> Response:
        stack, _, message = self._queued(name, message_id)
        mail = self._mail(stack, parsed_json(message.body) or {})
        return html_body(mail)

    def message_raw(self, request: Request, name: str, message_id: str) -> Response:
        stack, _, message = self._queued(name, message_id)
        location = self._raw_location(stack, parsed_json(message.body) or {})
        if location is None:
            raise NotFound("This message names no raw MIME of its stack.")
        return self._stream(location, f"{message_id}.eml", download="download" in request.args)

    def message_file(self, request: Request, name: str, message_id: str, index: int) -> Response:
        stack, _, message = self._queued(name, message_id)
        mail = self._mail(stack, parsed_json(message.body) or {})
        attachment = next((item for item in (mail.attachments if mail else ()) if item.index == index), None)
        if attachment is None or attachment.location is None:
            raise NotFound("This message has no such attachment.")
        if not stack.owns_key(*attachment.location, "attachments"):
            raise NotFound("This attachment is not stored under its stack's attachments/ prefix.")
        return self._stream(attachment.location, attachment.download_name, download=True)

    def _stream(self, location: tuple[str, str], filename: str, *, download: bool) -> Response:
        from botocore.exceptions import ClientError

        try:
            answer = self.sources.s3.get_object(Bucket=location[0], Key=location[1])
        except ClientError:
            raise NotFound(f"s3://{location[0]}/{location[1]} does not exist (any more).") from None
        length = int(answer["ContentLength"])
        return file_response(
            answer["Body"].iter_chunks(STREAM_CHUNK),
            length,
            filename,
            download=download or length > INLINE_RAW_LIMIT,
        )

    # outbox ------------------------------------------------------------------------------------------
    def outbox(self, request: Request) -> Response:
        version = self.version()  # before reading: a change after it makes the page refresh itself
        entries = list(reversed(self.sources.outbox.entries()))
        return self.render("outbox.html", entries=entries, version=version)

    def _outbox_raw(self, number: int) -> bytes:
        raw = self.sources.outbox.raw(number)
        if raw is None:
            raise NotFound(f"The outbox has no message {number}.")
        return raw

    def outbox_message(self, request: Request, number: int) -> Response:
        raw = self._outbox_raw(number)
        entry = next((item for item in self.sources.outbox.entries() if item.number == number), None)
        return self.render(
            "outbox_message.html",
            entry=entry,
            number=number,
            mail=from_mime(raw, entry.ses_message_id if entry else ""),
            raw_size=len(raw),
            inline_raw_limit=INLINE_RAW_LIMIT,
            base=f"/outbox/{number}",
        )

    def outbox_html(self, request: Request, number: int) -> Response:
        return html_body(from_mime(self._outbox_raw(number)))

    def outbox_raw(self, request: Request, number: int) -> Response:
        raw = self._outbox_raw(number)
        return file_response(
            [raw],
            len(raw),
            f"outbox-{number}.eml",
            download="download" in request.args or len(raw) > INLINE_RAW_LIMIT,
        )

    def outbox_file(self, request: Request, number: int, index: int) -> Response:
        data = mime_attachment(self._outbox_raw(number), index)
        if data is None:
            raise NotFound("This message has no such attachment.")
        return file_response([data], len(data), f"part-{index}", download=True)

    # actions -----------------------------------------------------------------------------------------
    def send(self, request: Request) -> Response:
        form = self._send_defaults()
        if request.method == "GET":
            return self._send_page(form)
        form = {key: request.form.get(key, "") for key in (*form, *actions.VERDICT_NAMES, "dmarc_policy")}
        upload = request.files.get("attachment")
        try:
            mail = actions.MailForm.from_form(
                form,
                attachment_name=(upload.filename or "") if upload else "",
                attachment=upload.read() if upload else b"",
            )
            result = mail.send(self.sources.smtp_host, self.sources.smtp_port)
        except MailflowError as exc:
            return self._send_page(form, error=explain(exc), status=400)
        return self._send_page(form, result=result)

    def _send_defaults(self) -> dict[str, str]:
        """A mail to the first app of the first stack, so that one click shows the whole path."""
        stacks = self.sources.stacks.stacks()
        domain = stacks[0].domains[0] if stacks and stacks[0].domains else "example.com"
        app = stacks[0].apps[0] if stacks and stacks[0].apps else "app1"
        return {
            "from": "sender@example.net",
            "to": f"_{app}@{domain}",
            "subject": "Hello from the web inbox",
            "text": "A test mail.",
            "html": "",
        }

    def _send_page(self, form: dict[str, str], *, status: int = 200, **outcome: Any) -> Response:
        return self.render(
            "send.html",
            status=status,
            form=form,
            result=outcome.get("result"),
            error=outcome.get("error"),
            verdicts=actions.VERDICT_NAMES,
            statuses=actions.VERDICT_STATUSES,
            policies=actions.DMARC_POLICIES,
        )

    def faults(self, request: Request) -> Response:
        control = self.sources.faults
        if control is None:
            return self.render("faults.html", status=200 if request.method == "GET" else 409, faults=None)
        if request.method == "GET":
            return self.render("faults.html", faults=control.status(), error=None, rules_text=None)
        texts = [line.strip() for line in request.form.get("rules", "").splitlines() if line.strip()]
        seed_text = request.form.get("seed", "").strip() or "0"
        try:
            if not seed_text.isdigit():
                raise UsageError(f"the seed {seed_text!r} is not a whole number", hint="use 0, 1, 2, ...")
            status = control.clear() if "clear" in request.form else control.set(texts, int(seed_text))
        except MailflowError as exc:
            text = request.form.get("rules", "")
            return self.render(
                "faults.html", status=400, faults=control.status(), error=explain(exc), rules_text=text
            )
        return self.render("faults.html", faults=status, error=None, rules_text=None)

    # live updates ------------------------------------------------------------------------------------
    def changes(self, request: Request) -> Response:
        return secured(Response(json.dumps({"version": self.version()}), mimetype="application/json"))

    def version(self) -> str:
        """Changes whenever a queue, the outbox, the stacks or the fault rules change."""
        names = [queue.name for stack in self.sources.stacks.stacks() for queue in stack.queues]
        state = (
            queue_contents.fingerprint(self.sources.account_id, self.sources.region, names),
            self.sources.outbox.count(),
            None if self.sources.faults is None else self.sources.faults.status(),
        )
        return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def explain(exc: MailflowError) -> str:
    """The error as the CLI prints it: the sentence, its details, then the hint."""
    return " ".join([exc.message, *exc.details, *([f"({exc.hint})"] if exc.hint else [])])


def secured(response: Response, csp: str = PAGE_CSP) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = REFERRER_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if csp == BODY_CSP else "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def html_body(mail: MailView | None) -> Response:
    """The cleaned HTML body, for the sandboxed frame, under its own no-network, no-script CSP."""
    if mail is None or mail.html is None:
        raise NotFound("This message has no HTML body.")
    page = f'<!doctype html><meta charset="utf-8">{mail.html.text}'
    return secured(Response(page, mimetype="text/html"), BODY_CSP)


def file_response(chunks: Iterable[bytes], length: int, filename: str, *, download: bool) -> Response:
    """Raw MIME (text/plain, or a download) or an attachment (always a download, never rendered)."""
    response = Response(chunks, direct_passthrough=True)
    response.headers["Content-Length"] = str(length)
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename) or "download"
    if download:
        response.headers["Content-Type"] = "application/octet-stream"
        response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    else:
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.headers["Content-Disposition"] = "inline"
    return secured(response, DOWNLOAD_CSP)
