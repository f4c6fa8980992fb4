"""The `outbound.event` message (docs/schemas/outbound-event.schema.json): what SES said about one sent
email, bounded whatever the event holds.

Lists keep at most `MAX_RECIPIENTS` entries (`recipientsTotal` says how many there were) and texts are
cut (diagnostic codes at `MAX_TEXT` characters); `truncated: true` says something was left out. A
message that would still exceed the queue's message size keeps fewer entries until it fits. Every text
comes from SES or a remote mail server: apps treat it as untrusted.
"""

from __future__ import annotations

from typing import Any

from ..inbound.message import message_id_for, now_iso, serialise
from .event import SesEvent

VERSION = "1.0"
TYPE = "outbound.event"
MAX_RECIPIENTS = 50
MAX_TEXT = 1000  # diagnostic codes, SMTP responses, error messages
MAX_WORD = 100  # types, subtypes, status codes, actions, timestamps, ids
MAX_ADDRESS = 320


class _Bounded:
    """Cuts texts and lists, remembering whether anything was left out."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.truncated = False

    def text(self, value: Any, limit: int = MAX_WORD) -> str | None:
        if not isinstance(value, str):
            return None
        if len(value) > limit:
            self.truncated = True
            return value[:limit]
        return value

    def number(self, value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def items(self, values: list[Any]) -> list[Any]:
        if len(values) > self.max_items:
            self.truncated = True
            return values[: self.max_items]
        return values


def _listed(detail: dict[str, Any], key: str) -> list[Any]:
    value = detail.get(key)
    return value if isinstance(value, list) else []


def _address_of(item: Any) -> Any:
    return item.get("emailAddress") if isinstance(item, dict) else item


def event_addresses(event: SesEvent) -> list[Any]:
    """The recipients the event is about (SES's list for bounces, complaints, deliveries and delays;
    the email's destination otherwise)."""
    detail = event.detail
    if event.kind == "bounce":
        return [_address_of(r) for r in _listed(detail, "bouncedRecipients")]
    if event.kind == "complaint":
        return [_address_of(r) for r in _listed(detail, "complainedRecipients")]
    if event.kind == "delivery":
        return _listed(detail, "recipients")
    if event.kind == "deliveryDelay":
        return [_address_of(r) for r in _listed(detail, "delayedRecipients")]
    return _listed(event.mail, "destination")


def event_time(event: SesEvent) -> str | None:
    """When it happened: the per-type object's timestamp, else the send time (Send, Reject, Rendering
    Failure carry none of their own)."""
    for value in (event.detail.get("timestamp"), event.mail.get("timestamp")):
        if isinstance(value, str) and value:
            return value
    return None


def idempotency_key(event: SesEvent) -> str:
    """`outbound-event#<sesMessageId>#<event>#<feedbackId or event timestamp>` (contract E)."""
    feedback_id = event.detail.get("feedbackId")
    moment = feedback_id if isinstance(feedback_id, str) and feedback_id else event_time(event)
    return f"outbound-event#{event.ses_message_id}#{event.kind}#{(moment or '')[:MAX_WORD]}"


_LIMITS = {"address": MAX_ADDRESS, "diagnosticCode": MAX_TEXT}


def _recipient(item: Any, cut: _Bounded, *fields: str) -> dict[str, Any]:
    """One entry of SES's recipient list (`emailAddress`, DSN fields) with the message's field names."""
    found = item if isinstance(item, dict) else {}
    return {
        name: cut.text(
            _address_of(item) if name == "address" else found.get(name), _LIMITS.get(name, MAX_WORD)
        )
        for name in fields
    }


def _bounce(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    listed = _listed(detail, "bouncedRecipients")
    return {
        "bounceType": cut.text(detail.get("bounceType")),
        "bounceSubType": cut.text(detail.get("bounceSubType")),
        "feedbackId": cut.text(detail.get("feedbackId")),
        "recipients": [
            _recipient(r, cut, "address", "status", "action", "diagnosticCode") for r in cut.items(listed)
        ],
        "recipientsTotal": len(listed),
    }


def _complaint(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    listed = _listed(detail, "complainedRecipients")
    return {
        "feedbackType": cut.text(detail.get("complaintFeedbackType")),
        "subType": cut.text(detail.get("complaintSubType")),
        "feedbackId": cut.text(detail.get("feedbackId")),
        "recipients": [_recipient(r, cut, "address") for r in cut.items(listed)],
        "recipientsTotal": len(listed),
    }


def _delay(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    listed = _listed(detail, "delayedRecipients")
    return {
        "delayType": cut.text(detail.get("delayType")),
        "expirationTime": cut.text(detail.get("expirationTime")),
        "recipients": [_recipient(r, cut, "address", "status", "diagnosticCode") for r in cut.items(listed)],
        "recipientsTotal": len(listed),
    }


def _delivery(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    return {
        "smtpResponse": cut.text(detail.get("smtpResponse"), MAX_TEXT),
        "processingTimeMillis": cut.number(detail.get("processingTimeMillis")),
        "reportingMTA": cut.text(detail.get("reportingMTA"), MAX_TEXT),
    }


def _reject(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    return {"reason": cut.text(detail.get("reason"), MAX_TEXT)}


def _rendering(detail: dict[str, Any], cut: _Bounded) -> dict[str, Any]:
    return {
        "errorMessage": cut.text(detail.get("errorMessage"), MAX_TEXT),
        "templateName": cut.text(detail.get("templateName"), MAX_TEXT),
    }


# The message's field per event type, and its builder; the other fields are null.
_DETAILS = {
    "bounce": ("bounce", _bounce),
    "complaint": ("complaint", _complaint),
    "deliveryDelay": ("delay", _delay),
    "delivery": ("delivery", _delivery),
    "reject": ("reject", _reject),
    "renderingFailure": ("renderingFailure", _rendering),
}


def build(
    event: SesEvent, app: str, correlation_id: str, *, max_items: int = MAX_RECIPIENTS
) -> dict[str, Any]:
    cut = _Bounded(max_items)
    addresses = [a for a in event_addresses(event) if isinstance(a, str)]
    message: dict[str, Any] = {
        "version": VERSION,
        "type": TYPE,
        "id": message_id_for(idempotency_key(event), TYPE),
        "timestamp": now_iso(),
        "app": app,
        "correlationId": correlation_id,
        "sesMessageId": event.ses_message_id,
        "event": event.kind,
        "eventTimestamp": cut.text(event_time(event)),
        "recipients": [cut.text(a, MAX_ADDRESS) for a in cut.items(addresses)],
        "recipientsTotal": len(addresses),
    }
    for name, _ in _DETAILS.values():
        message[name] = None
    found = _DETAILS.get(event.kind)
    if found is not None:
        message[found[0]] = found[1](event.detail, cut)
    message["truncated"] = cut.truncated
    return message


def serialised(event: SesEvent, app: str, correlation_id: str, max_bytes: int) -> tuple[dict[str, Any], str]:
    """The message and its JSON, with fewer list entries when the full lists would not fit `max_bytes`."""
    items = MAX_RECIPIENTS
    while True:
        message = build(event, app, correlation_id, max_items=items)
        body = serialise(message)
        if items == 0 or len(body.encode("utf-8")) <= max_bytes:
            return message, body
        items //= 2
