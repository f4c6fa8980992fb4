"""One record of the SES events queue: the SNS notification, or the SES event itself when the subscription
uses raw message delivery, checked into an `SesEvent`.

The format is SES's event publishing record ("Contents of event data that Amazon SES publishes to
Amazon SNS"): `eventType`, `mail` (with `messageId`, `destination`, `tags`: name -> list of values) and
one object per type (`bounce`, `complaint`, `delivery`, `send`, `reject`, `deliveryDelay`, and
`failure` for `Rendering Failure`). Anything else is malformed and goes to the events DLQ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import PermanentError

# SES's eventType -> the `event` of an outbound.event, and the key of SES's per-type object.
EVENTS = {
    "Send": ("send", "send"),
    "Delivery": ("delivery", "delivery"),
    "Bounce": ("bounce", "bounce"),
    "Complaint": ("complaint", "complaint"),
    "Reject": ("reject", "reject"),
    "DeliveryDelay": ("deliveryDelay", "deliveryDelay"),
    "Rendering Failure": ("renderingFailure", "failure"),
}
# Event types SES can publish that Mailflow's event destination never asks for: logged, not forwarded.
NOT_FORWARDED = frozenset({"Open", "Click", "Subscription"})
# The list each type's object must hold (the addresses the event is about).
_REQUIRED_LISTS = {
    "bounce": "bouncedRecipients",
    "complaint": "complainedRecipients",
    "delivery": "recipients",
    "deliveryDelay": "delayedRecipients",
}
_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_ID_CHARS = 200


class MalformedEvent(PermanentError):
    reason = "malformed"


@dataclass(frozen=True)
class SesEvent:
    ses_type: str  # eventType as SES wrote it
    kind: str  # the outbound.event `event`, "" for a type Mailflow does not forward
    mail: dict[str, Any]
    detail: dict[str, Any]  # SES's object for this type ({} for one not forwarded)

    @property
    def ses_message_id(self) -> str:
        return str(self.mail["messageId"])

    @property
    def tags(self) -> dict[str, Any]:
        tags = self.mail.get("tags")
        return tags if isinstance(tags, dict) else {}


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent(f"{what} is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise MalformedEvent(f"{what} is JSON but not an object")
    return value


def _unwrap(body: Any) -> dict[str, Any]:
    """The SES event: from an SNS notification's `Message`, or the body itself (raw message delivery)."""
    if not isinstance(body, str) or not body:
        raise MalformedEvent("the SQS record has no body")
    document = _object(body, "the body")
    if "Type" not in document:
        return document
    if document.get("Type") != "Notification":
        raise MalformedEvent(f"an SNS message of type {str(document.get('Type'))[:40]!r}, not a Notification")
    message = document.get("Message")
    if not isinstance(message, str):
        raise MalformedEvent("an SNS notification without a Message string")
    return _object(message, "the SNS notification's Message")


def parse(body: Any) -> SesEvent:
    """The checked event, or MalformedEvent naming what is wrong."""
    document = _unwrap(body)
    ses_type = document.get("eventType")
    if not isinstance(ses_type, str):
        if "notificationType" in document:
            raise MalformedEvent(
                "an SES identity notification (notificationType), not a configuration set event"
            )
        raise MalformedEvent("neither an SNS notification nor an SES event: no eventType")
    mail = document.get("mail")
    if not isinstance(mail, dict):
        raise MalformedEvent(f"SES {ses_type[:40]!r} event without a mail object")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not ses_id or len(ses_id) > MAX_ID_CHARS or not set(ses_id) <= _SAFE_ID:
        raise MalformedEvent("SES event without a valid mail.messageId")
    if ses_type in NOT_FORWARDED:
        return SesEvent(ses_type=ses_type, kind="", mail=mail, detail={})
    if ses_type not in EVENTS:
        raise MalformedEvent(f"unknown SES eventType {ses_type[:40]!r}")
    kind, detail_key = EVENTS[ses_type]
    detail = document.get(detail_key)
    if not isinstance(detail, dict):
        raise MalformedEvent(f"SES {ses_type} event without its {detail_key} object")
    listed = _REQUIRED_LISTS.get(kind)
    if listed is not None and not isinstance(detail.get(listed), list):
        raise MalformedEvent(f"SES {ses_type} event without {detail_key}.{listed}")
    return SesEvent(ses_type=ses_type, kind=kind, mail=mail, detail=detail)
