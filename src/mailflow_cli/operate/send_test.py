"""``mailflow send-test``: a uniquely marked email in (through SES) or out (through the outbound queue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.config import EMAIL_PATTERN, MailflowConfig
from mailflow_cli.errors import MailflowError, UsageError

TEST_HEADER = "X-Mailflow-Test-Id"


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """SES authorises a send against the sender's identity and, in the sandbox, the recipients': both are
    in the configured domains (a --from address elsewhere needs its own identity)."""
    return (allow(scopes.domain_identities, "ses:SendRawEmail"),)


@dataclass(frozen=True)
class TestEmail:
    test_id: str
    sender: str
    recipient: str
    subject: str


def new_test_id() -> str:
    return uuid.uuid4().hex


def choose_domain(config: MailflowConfig, domain: str | None) -> str:
    if domain is None:
        return config.domains[0]
    chosen = domain.strip().lower().rstrip(".")
    if chosen not in config.domains:
        raise UsageError(
            f"{domain} is not one of the stack's domains",
            hint=f"configured domains: {', '.join(config.domains)}",
        )
    return chosen


def app_address(app: str, domain: str) -> str:
    return f"_{app}@{domain}"


def inbound_test(app: str, domain: str, sender: str | None, test_id: str) -> TestEmail:
    source = sender or f"mailflow-test@{domain}"
    if not EMAIL_PATTERN.match(source):
        raise UsageError(f"--from: {source!r} is not an e-mail address")
    return TestEmail(
        test_id=test_id,
        sender=source,
        recipient=app_address(app, domain),
        subject=f"Mailflow test {test_id}",
    )


def mime_of(test: TestEmail, sent_at: datetime) -> bytes:
    message = EmailMessage()
    message["From"] = test.sender
    message["To"] = test.recipient
    message["Subject"] = test.subject
    message[TEST_HEADER] = test.test_id
    message["Date"] = sent_at.strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(f"This is a Mailflow delivery test ({test.test_id}); it can be deleted.\n")
    return bytes(message)


def send_inbound(ses: Any, test: TestEmail, sent_at: datetime) -> str:
    from botocore.exceptions import ClientError

    try:
        response = ses.send_raw_email(
            Source=test.sender, Destinations=[test.recipient], RawMessage={"Data": mime_of(test, sent_at)}
        )
    except ClientError as exc:
        if error_code(exc) in ("MessageRejected", "MailFromDomainNotVerifiedException"):
            domain = test.sender.rsplit("@", 1)[1]
            raise MailflowError(
                f"SES refused to send from {test.sender}: {exc.response['Error'].get('Message', '')}",
                hint=f"verify the domain with `mailflow verify-domain {domain} --wait`, "
                "or pass --from with an address SES has verified",
            ) from None
        raise translate_client_error(exc, "the test email (ses:SendRawEmail)") from exc
    return str(response["MessageId"])


def inbound_matcher(test_id: str) -> Any:
    def matches(body: Any) -> bool:
        if not isinstance(body, dict) or body.get("type") != "inbound.email":
            return False
        email = body.get("email")
        return isinstance(email, dict) and test_id in str(email.get("subject", ""))

    return matches


def outbound_request(app: str, domain: str, to: str, test_id: str, now: datetime) -> dict[str, Any]:
    """A message an app puts on the outbound queue (see docs/messages.md)."""
    if not EMAIL_PATTERN.match(to):
        raise UsageError(f"--to: {to!r} is not an e-mail address")
    return {
        "version": "1.0",
        "correlationId": f"mailflow-test-{test_id}",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": app,
        "email": {
            "from": {"address": app_address(app, domain), "name": f"Mailflow test ({app})"},
            "to": [{"address": to}],
            "subject": f"Mailflow test {test_id}",
            "body": {"text": f"This is a Mailflow outbound test ({test_id}).\n"},
        },
    }


def status_matcher(correlation_id: str) -> Any:
    def matches(body: Any) -> bool:
        return (
            isinstance(body, dict)
            and body.get("type") == "outbound.status"
            and body.get("correlationId") == correlation_id
        )

    return matches


def event_matcher(correlation_id: str) -> Any:
    """The first thing SES says happened to the test email after accepting it (its Send event, published
    with outbound.feedback.sendEvents, only repeats what outbound.status said)."""

    def matches(body: Any) -> bool:
        return (
            isinstance(body, dict)
            and body.get("type") == "outbound.event"
            and body.get("correlationId") == correlation_id
            and body.get("event") != "send"
        )

    return matches


def event_summary(body: dict[str, Any]) -> str:
    """What an outbound.event says, in a few words: the event, the bounce or complaint type, and the
    first recipient's diagnostic when SES gave one."""
    event = str(body.get("event", "?"))
    detail = body.get("bounce") or body.get("complaint") or body.get("delay")
    if not isinstance(detail, dict):
        return event
    kinds = "/".join(
        str(detail[key])
        for key in ("bounceType", "bounceSubType", "feedbackType", "delayType")
        if detail.get(key)
    )
    recipients = detail.get("recipients")
    first = (
        recipients[0]
        if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict)
        else {}
    )
    diagnostic = first.get("diagnosticCode") or first.get("status")
    return ": ".join(part for part in (event, kinds, str(diagnostic) if diagnostic else "") if part)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
