"""What the web inbox's buttons do: redrive a dead-letter queue (as ``mailflow dlq redrive --local``
does, by the same code) and send a test mail into the SMTP ingress (as ``mailflow local send`` does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import MailflowConfig
from mailflow_cli.context import StackContext
from mailflow_cli.errors import UsageError
from mailflow_cli.local.send import SendResult, send_message
from mailflow_cli.local.ses_event import Verdicts
from mailflow_cli.local.ui.stacks import RUNTIME_CONFIG, Stack, StackQueue
from mailflow_cli.operate import dlq
from mailflow_cli.operate.stack import QueueRef, queue_url
from mailflow_cli.operate.timing import SYSTEM_CLOCK

MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARACTERS = 998
MAX_BODY_CHARACTERS = 1024 * 1024
VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_STATUSES = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")
DMARC_POLICIES = ("none", "quarantine", "reject")


def stack_context(stack: Stack, target: AwsTarget) -> StackContext:
    """The context a stack command would open for this stack, from its deployed runtime configuration."""
    config = MailflowConfig.model_validate(
        {
            "environment": stack.environment,
            "region": stack.region,
            "domains": list(stack.domains),
            "apps": list(stack.apps),
        }
    )
    path = Path(stack.function) / RUNTIME_CONFIG
    return StackContext(config=config, config_path=path, clients=AwsClients(target), local=True)


def redrive(stack: Stack, queue: StackQueue, target: AwsTarget) -> dlq.RedriveResult:
    ctx = stack_context(stack, target)
    ref = QueueRef(label=queue.label, name=queue.name, url=queue_url(ctx, queue.name), kind=queue.kind)
    return dlq.redrive(ctx, ref, SYSTEM_CLOCK)


@dataclass(frozen=True)
class MailForm:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    attachment_name: str = ""
    attachment: bytes = b""
    verdicts: Verdicts | None = None

    @classmethod
    def from_form(
        cls, form: Mapping[str, str], attachment_name: str = "", attachment: bytes = b""
    ) -> MailForm:
        """The form's fields checked; a :class:`UsageError` names the first field that is wrong."""
        sender = _one_address(form.get("from", ""), "From")
        recipients = tuple(address for _, address in getaddresses([form.get("to", "")]) if address)
        if not recipients:
            raise UsageError("To: give at least one recipient address, e.g. _app1@example.com")
        if len(recipients) > MAX_RECIPIENTS:
            raise UsageError(f"To: at most {MAX_RECIPIENTS} recipients (SES's limit per message)")
        for address in recipients:
            _one_address(address, "To")
        subject = form.get("subject", "")
        if len(subject) > MAX_SUBJECT_CHARACTERS or "\n" in subject or "\r" in subject:
            raise UsageError(f"Subject: one line of at most {MAX_SUBJECT_CHARACTERS} characters")
        text, html = form.get("text", ""), form.get("html", "")
        if max(len(text), len(html)) > MAX_BODY_CHARACTERS:
            raise UsageError(f"the bodies may hold at most {MAX_BODY_CHARACTERS:,} characters each")
        return cls(
            sender=sender,
            recipients=recipients,
            subject=subject,
            text=text,
            html=html,
            attachment_name=attachment_name,
            attachment=attachment,
            verdicts=_verdicts(form),
        )

    def mime(self) -> bytes:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain="mailflow.local")
        message.set_content(self.text or "\n")
        if self.html:
            message.add_alternative(self.html, subtype="html")
        if self.attachment_name or self.attachment:
            message.add_attachment(
                self.attachment,
                maintype="application",
                subtype="octet-stream",
                filename=self.attachment_name or "attachment.bin",
            )
        return message.as_bytes()

    def send(self, host: str, port: int) -> SendResult:
        return send_message(
            self.mime(),
            host=host,
            port=port,
            mail_from=self.sender,
            recipients=self.recipients,
            verdicts=self.verdicts,
        )


def _one_address(value: str, field: str) -> str:
    found = getaddresses([value])
    if len(found) != 1 or "@" not in found[0][1] or any(c in value for c in "\r\n"):
        raise UsageError(f"{field}: {value!r} is not one email address")
    return found[0][1]


def _verdicts(form: Mapping[str, str]) -> Verdicts | None:
    chosen = [f"{name}={form[name]}" for name in VERDICT_NAMES if (form.get(name) or "PASS") != "PASS"]
    policy = form.get("dmarc_policy") or None
    if not chosen and policy is None:
        return None
    try:
        return Verdicts.parse(chosen, policy)
    except ValueError as exc:
        raise UsageError(f"verdicts: {exc}") from None
