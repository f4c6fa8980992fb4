"""The records SES publishes about a message sent through a configuration set (event publishing).

Shapes follow AWS's "Contents of event data that Amazon SES publishes to Amazon SNS" and its examples
("Examples of event data that Amazon SES publishes to Amazon SNS"): a top-level ``eventType``, the
``mail`` object (timestamp, source, sourceArn, sendingAccountId, messageId, destination,
headersTruncated, headers, commonHeaders, tags as ``{name: [values]}``) and one object named after the
event type (``send``, ``delivery``, ``bounce``, ``complaint``, ``reject``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from mailflow_cli.local.sent_mail import SentMail
from mailflow_cli.local.ses_event import header_objects, iso_timestamp, message_common_headers

SEND, DELIVERY, BOUNCE, COMPLAINT, REJECT = "Send", "Delivery", "Bounce", "Complaint", "Reject"
MATCHING_EVENT_TYPE = {
    SEND: "SEND",
    DELIVERY: "DELIVERY",
    BOUNCE: "BOUNCE",
    COMPLAINT: "COMPLAINT",
    REJECT: "REJECT",
}
"""An event's ``eventType`` -> its name in an event destination's ``MatchingEventTypes``."""

HEADERS_LIMIT = 10 * 1024
"""SES truncates ``mail.headers`` when the headers are larger than 10 KB (``headersTruncated``)."""
LOCAL_IP = "127.0.0.1"
LOCAL_MTA = "localhost"
USER_UNKNOWN = "smtp; 550 5.1.1 user unknown"
ON_ACCOUNT_SUPPRESSION_LIST = (
    "Amazon SES did not send the message to this address because it is on the suppression list for "
    "your account. For more information about removing addresses from the suppression list, see the "
    "Amazon SES Developer Guide at "
    "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html"
)
SIMULATOR_USER_AGENT = "Amazon SES Mailbox Simulator"


@dataclass(frozen=True)
class Sender:
    """Who sent the message, as SES reports it in every event."""

    account_id: str
    source_arn: str


def feedback_id(now: datetime) -> str:
    """An id in SES's feedback id shape (``01000157c44f053b-61b59c11-...-000000``)."""
    return f"{int(now.timestamp() * 1000):016x}-{uuid.uuid4()}-000000"


def headers(raw: bytes) -> tuple[list[dict[str, str]], bool]:
    """``mail.headers`` and ``mail.headersTruncated``: the headers in order while they fit in 10 KB."""
    kept: list[dict[str, str]] = []
    size = 0
    for header in header_objects(raw):
        size += len(header["name"]) + len(header["value"])
        if size > HEADERS_LIMIT:
            return kept, True
        kept.append(header)
    return kept, False


def tags(mail: SentMail, event_type: str) -> dict[str, list[str]]:
    """SES's automatic tags, then the message tags the send carried (a name may repeat)."""
    domain = parseaddr(mail.named_source or mail.source)[1].rpartition("@")[2].lower()
    found: dict[str, list[str]] = {
        "ses:configuration-set": [mail.configuration_set or ""],
        "ses:source-ip": [LOCAL_IP],
        "ses:from-domain": [domain],
    }
    if event_type == DELIVERY:
        found["ses:outgoing-ip"] = [LOCAL_IP]
    for name, value in mail.tags:
        found.setdefault(name, []).append(value)
    return found


def mail_object(mail: SentMail, sender: Sender, event_type: str) -> dict[str, Any]:
    kept, truncated = headers(mail.raw)
    common = message_common_headers(mail.raw)
    common.setdefault("messageId", mail.ses_message_id)
    return {
        "timestamp": iso_timestamp(mail.sent_at),
        "source": mail.named_source or mail.source,
        "sourceArn": sender.source_arn,
        "sendingAccountId": sender.account_id,
        "messageId": mail.ses_message_id,
        "destination": list(mail.destinations),
        "headersTruncated": truncated,
        "headers": kept,
        "commonHeaders": common,
        "tags": tags(mail, event_type),
    }


def event(mail: SentMail, sender: Sender, event_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """One event record: ``eventType``, ``mail`` and the event type's own object."""
    key = event_type[0].lower() + event_type[1:]
    return {"eventType": event_type, "mail": mail_object(mail, sender, event_type), key: detail}


def delivery_of(mail: SentMail) -> Callable[[Sequence[str], datetime], dict[str, Any]]:
    """The ``delivery`` object for recipients of ``mail`` delivered at a given time."""

    def delivery(recipients: Sequence[str], now: datetime) -> dict[str, Any]:
        return {
            "timestamp": iso_timestamp(now),
            "processingTimeMillis": max(0, int((now - mail.sent_at).total_seconds() * 1000)),
            "recipients": list(recipients),
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": LOCAL_MTA,
        }

    return delivery


def user_unknown_bounce(recipients: Sequence[str], now: datetime) -> dict[str, Any]:
    """The mailbox simulator's hard bounce: the recipient's server answered 550 5.1.1."""
    return {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": r, "action": "failed", "status": "5.1.1", "diagnosticCode": USER_UNKNOWN}
            for r in recipients
        ],
        "timestamp": iso_timestamp(now),
        "feedbackId": feedback_id(now),
        "reportingMTA": f"dsn; {LOCAL_MTA}",
    }


def suppressed_bounce(recipients: Sequence[str], now: datetime) -> dict[str, Any]:
    """The bounce SES makes itself for recipients on the account-level suppression list."""
    return {
        "bounceType": "Permanent",
        "bounceSubType": "OnAccountSuppressionList",
        "bouncedRecipients": [
            {
                "emailAddress": r,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": ON_ACCOUNT_SUPPRESSION_LIST,
            }
            for r in recipients
        ],
        "timestamp": iso_timestamp(now),
        "feedbackId": feedback_id(now),
        "reportingMTA": "dns; amazonses.com",
    }


def abuse_complaint(recipients: Sequence[str], now: datetime) -> dict[str, Any]:
    """The mailbox simulator's complaint: the recipient marked the message as spam."""
    return {
        "complainedRecipients": [{"emailAddress": r} for r in recipients],
        "timestamp": iso_timestamp(now),
        "feedbackId": feedback_id(now),
        "userAgent": SIMULATOR_USER_AGENT,
        "complaintFeedbackType": "abuse",
        "arrivalDate": iso_timestamp(now),
    }


def bad_content() -> dict[str, Any]:
    """SES rejected the message: it found a virus (``reason`` is always ``Bad content``)."""
    return {"reason": "Bad content"}
