"""``mailflow suppression``: the account-level SES suppression list (one per account and region).

SES adds an address that bounced hard or complained (the stack's configuration set suppresses BOUNCE and
COMPLAINT) and does not send to it again: a send to it is accepted, and SES publishes a Bounce event
instead, which reaches the app as an ``outbound.event``. These are the list's own API calls (SES v2):
ListSuppressedDestinations (every page), PutSuppressedDestination, DeleteSuppressedDestination and
GetSuppressedDestination.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.config import EMAIL_PATTERN
from mailflow_cli.errors import UsageError

REASONS = ("BOUNCE", "COMPLAINT")
PAGE_SIZE = 1000  # the most ListSuppressedDestinations returns per page
MAX_ADDRESS_LENGTH = 320
NOT_FOUND = "NotFoundException"


def list_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """The suppression list is an account-level list: its calls have no resource-level permissions."""
    return (allow(scopes.any, "ses:ListSuppressedDestinations"),)


def check_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.any, "ses:GetSuppressedDestination"),)


def add_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.any, "ses:PutSuppressedDestination"),)


def remove_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.any, "ses:GetSuppressedDestination", "ses:DeleteSuppressedDestination"),)


@dataclass(frozen=True)
class Suppressed:
    address: str
    reason: str
    last_update: datetime | None
    message_id: str | None = None
    feedback_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "reason": self.reason,
            "lastUpdateTime": None if self.last_update is None else self.last_update.isoformat(),
            "messageId": self.message_id,
            "feedbackId": self.feedback_id,
        }


def addresses(given: Sequence[str]) -> list[str]:
    """The addresses as typed (trimmed, each once); a :class:`UsageError` naming the first bad one, before
    any AWS call."""
    found: list[str] = []
    seen: set[str] = set()
    for raw in given:
        address = raw.strip()
        if len(address) > MAX_ADDRESS_LENGTH or not EMAIL_PATTERN.match(address):
            raise UsageError(
                f"ADDRESS {raw!r} is not an e-mail address",
                hint="give whole addresses, for example: bounced@example.com (nothing was changed)",
            )
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    return found


def reason(value: str | None, *, option: str = "--reason") -> str | None:
    if value is None:
        return None
    upper = value.strip().upper()
    if upper not in REASONS:
        raise UsageError(f"{option}: {value!r} is not a suppression reason", hint="use BOUNCE or COMPLAINT")
    return upper


def listed(sesv2: Any, *, reasons: Sequence[str] = (), since: datetime | None = None) -> Iterator[Suppressed]:
    """Every entry of the list (all pages), optionally only these reasons and entries updated since then."""
    from botocore.exceptions import ClientError

    arguments: dict[str, Any] = {"PageSize": PAGE_SIZE}
    if reasons:
        arguments["Reasons"] = list(reasons)
    if since is not None:
        arguments["StartDate"] = since
    while True:
        try:
            page = sesv2.list_suppressed_destinations(**arguments)
        except ClientError as exc:
            raise translate_client_error(exc, "the account-level suppression list") from exc
        for entry in page.get("SuppressedDestinationSummaries", []):
            yield Suppressed(
                str(entry["EmailAddress"]), str(entry["Reason"]), _when(entry.get("LastUpdateTime"))
            )
        token = page.get("NextToken")
        if not token:
            return
        arguments["NextToken"] = token


def add(sesv2: Any, address: str, why: str) -> None:
    from botocore.exceptions import ClientError

    try:
        sesv2.put_suppressed_destination(EmailAddress=address, Reason=why)
    except ClientError as exc:
        raise translate_client_error(exc, f"the suppression list (adding {address})") from exc


def remove(sesv2: Any, address: str) -> bool:
    """Whether the address was on the list (and is not any more)."""
    from botocore.exceptions import ClientError

    try:
        sesv2.delete_suppressed_destination(EmailAddress=address)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return False
        raise translate_client_error(exc, f"the suppression list (removing {address})") from exc
    return True


def check(sesv2: Any, address: str) -> Suppressed | None:
    from botocore.exceptions import ClientError

    try:
        entry = sesv2.get_suppressed_destination(EmailAddress=address)["SuppressedDestination"]
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise translate_client_error(exc, f"the suppression list (checking {address})") from exc
    attributes = entry.get("Attributes", {})
    return Suppressed(
        str(entry["EmailAddress"]),
        str(entry["Reason"]),
        _when(entry.get("LastUpdateTime")),
        message_id=attributes.get("MessageId"),
        feedback_id=attributes.get("FeedbackId"),
    )


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return None
