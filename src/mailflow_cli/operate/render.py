"""How a queue message looks on screen (rich) and as one JSON line, whatever kind of message it is.

The values shown come from message bodies, which whoever wrote to the queue chose: control characters
(ESC, C1, line breaks) and bidirectional overrides are shown as escapes (``\\x1b``, ``\\u202e``), so
a value can neither drive the terminal nor fake another line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.text import Text

from mailflow_cli.operate.durations import format_duration

VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_text(value: str) -> str:
    """``value`` with control characters and bidi overrides escaped (tab is kept)."""
    return _UNPRINTABLE.sub(
        lambda found: f"\\x{ord(found[0]):02x}" if ord(found[0]) <= 0xFF else f"\\u{ord(found[0]):04x}",
        value,
    )


@dataclass(frozen=True)
class MessageView:
    """The facts worth showing about one SQS message, extracted once from its body and attributes."""

    message_id: str
    kind: str
    size: int
    receive_count: int
    sent_at: float | None
    body: Any
    app: str | None = None
    sender: str | None = None
    subject: str | None = None
    recipients: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    verdicts: dict[str, str] = field(default_factory=dict)
    correlation_id: str | None = None
    outcome: str | None = None
    reason: str | None = None
    source_queue_arn: str | None = None  # SQS's DeadLetterQueueSourceArn: where a DLQ message came from

    def age(self, now: float) -> float | None:
        return None if self.sent_at is None else max(0.0, now - self.sent_at)


def parse_body(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def view_message(message: dict[str, Any]) -> MessageView:
    raw = str(message.get("Body", ""))
    body = parse_body(raw)
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    base: dict[str, Any] = {
        "message_id": message.get("MessageId", ""),
        "size": len(raw.encode("utf-8")),
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "sent_at": int(sent) / 1000 if sent else None,
        "body": body,
        "source_queue_arn": attributes.get("DeadLetterQueueSourceArn"),
    }
    if not isinstance(body, dict):
        return MessageView(kind="text", **base)
    kind = _kind_of(body)
    email: dict[str, Any] = body["email"] if isinstance(body.get("email"), dict) else {}
    recipients = _list(email.get("to")) if email else _list(body.get("recipients"))
    return MessageView(
        kind=kind,
        app=_str(body.get("app") or body.get("source")) or _ses_tag(body, "mailflow-app"),
        sender=_address(email.get("from")),
        subject=_str(email.get("subject")),
        recipients=tuple(a for a in (_address(item) for item in recipients) if a),
        attachments=tuple(_attachment(item) for item in _list(email.get("attachments"))),
        verdicts=_verdicts(body.get("security")),
        correlation_id=_str(body.get("correlationId")),
        outcome=_OUTCOMES[kind](body) if kind in _OUTCOMES else None,
        reason=reason_of(message, body),
        **base,
    )


def reason_of(message: dict[str, Any], body: Any) -> str | None:
    """Why a message is in a DLQ: the handler's ``reason``, or Lambda's error attributes on a failed event."""
    if isinstance(body, dict):
        for key in ("reason", "errorReason"):
            if body.get(key):
                detail = body.get("error") or body.get("errorMessage")
                return f"{body[key]}: {detail}" if isinstance(detail, str) and detail else str(body[key])
    attributes = message.get("MessageAttributes", {})
    for key in ("ErrorMessage", "ErrorCode"):
        value = attributes.get(key, {}).get("StringValue")
        if value:
            return str(value)
    return None


def _kind_of(body: dict[str, Any]) -> str:
    if isinstance(body.get("type"), str):
        return str(body["type"])
    if isinstance(body.get("eventType"), str) and isinstance(body.get("mail"), dict):
        return "ses." + "-".join(str(body["eventType"]).lower().split())  # SES's event, as published
    if body.get("Type") == "Notification" and "TopicArn" in body:
        return "sns.notification"
    if "correlationId" in body and "email" in body:
        return "outbound.request"
    if isinstance(body.get("Records"), list):
        return "ses.event"
    if "reason" in body:
        return "failure.record"
    return "json"


def _outcome(body: dict[str, Any]) -> str:
    status = str(body.get("status", "?"))
    if status == "sent":
        return f"sent (SES message id {body.get('sesMessageId', '?')})"
    error = body.get("error")
    detail = error.get("message") or error.get("code") if isinstance(error, dict) else error
    retry = " - will be retried" if body.get("retry") else ""
    return f"{status}: {detail or 'no detail'}{retry}"


def _event_outcome(body: dict[str, Any]) -> str:
    """An outbound.event: what SES said happened, with the bounce or complaint type when there is one."""
    event = str(body.get("event", "?"))
    detail = body.get("bounce") or body.get("complaint")
    if isinstance(detail, dict):
        kinds = [
            str(detail[key]) for key in ("bounceType", "bounceSubType", "feedbackType") if detail.get(key)
        ]
        if kinds:
            return f"{event} ({'/'.join(kinds)})"
    return event


_OUTCOMES = {"outbound.status": _outcome, "outbound.event": _event_outcome}


def _ses_tag(body: dict[str, Any], name: str) -> str | None:
    """A message tag of an SES event (``mail.tags``: tag name -> list of values)."""
    mail = body.get("mail")
    values = (
        mail.get("tags", {}).get(name)
        if isinstance(mail, dict) and isinstance(mail.get("tags"), dict)
        else None
    )
    return _str(values[0]) if isinstance(values, list) and values else None


def _address(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("address"):
        name = value.get("name")
        return f"{name} <{value['address']}>" if name else str(value["address"])
    return None


def _attachment(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    size = item.get("size")
    kind = item.get("contentType", "?")
    return f"{item.get('filename') or '(unnamed)'} ({kind}, {human_bytes(int(size)) if size else '?'})"


def _verdicts(security: Any) -> dict[str, str]:
    if not isinstance(security, dict):
        return {}
    found: dict[str, str] = {}
    for name in VERDICTS:
        value = security.get(f"{name}Verdict", security.get(name))
        if isinstance(value, dict):
            value = value.get("status") or value.get("verdict")
        if value:
            found[name] = str(value)
    if security.get("flagged"):
        found["flagged"] = ", ".join(str(flag) for flag in security.get("flags", [])) or "yes"
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) else None


def human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def render_message(view: MessageView, now: float, queue_label: str) -> Group:
    age = view.age(now)
    header = Text()
    header.append("● ", style="cyan")
    header.append(view.kind, style="bold")
    header.append(f"  {queue_label}", style="magenta")
    if view.app and view.app != queue_label:
        header.append(f"  app={terminal_text(view.app)}")
    header.append(f"  {human_bytes(view.size)}", style="dim")
    if age is not None:
        header.append(f"  {format_duration(age)} ago", style="dim")
    header.append(f"  received {view.receive_count}x", style="dim")
    lines: list[Text] = [header]

    def field_line(label: str, value: str, style: str = "") -> None:
        line = Text(f"  {label:<9}", style="dim")
        line.append(terminal_text(value), style=style)
        lines.append(line)

    if view.sender:
        field_line("From", view.sender)
    if view.recipients:
        field_line("To", ", ".join(view.recipients))
    if view.subject is not None:
        field_line("Subject", view.subject, "bold")
    for attachment in view.attachments:
        field_line("Attach", attachment)
    if view.verdicts:
        field_line("Verdicts", "  ".join(f"{k} {v}" for k, v in view.verdicts.items()))
    if view.correlation_id:
        field_line("Corr. id", view.correlation_id)
    if view.outcome:
        good = view.outcome.startswith(("sent", "delivery", "send"))
        field_line("Outcome", view.outcome, "green" if good else "red")
    if view.reason:
        field_line("Reason", view.reason, "yellow")
    if view.source_queue_arn:
        field_line("Source", view.source_queue_arn.rsplit(":", 1)[-1])
    if view.kind == "text":
        field_line("Body", str(view.body)[:200])
    return Group(*lines)


def message_document(view: MessageView, queue_label: str) -> dict[str, Any]:
    return {
        "queue": queue_label,
        "messageId": view.message_id,
        "kind": view.kind,
        "receiveCount": view.receive_count,
        "sentTimestamp": view.sent_at,
        "size": view.size,
        "reason": view.reason,
        "body": view.body,
    }
