"""What moto's SES sends drop, kept with AWS's semantics: the configuration set, the message tags and the
request's destinations of ``SendEmail`` (SES v2) and ``SendEmail``/``SendRawEmail`` (SES v1).

Installed by :mod:`mailflow_cli.local.moto_patches` (patch 8). A send that names a configuration set that
does not exist, or a tag SES refuses, is refused as SES refuses it; an accepted send's options are kept
with moto's record of the message (``ses_backends[account][region].sent_messages``), which
:func:`sent_mail` reads under the same lock the send holds, so no reader sees a message without them.

AWS references: the SES API references of SendEmail (v1 and v2) and ``MessageTag``. The tag rule is the
one SES enforces: its error reads "Invalid tag value <...>: only alphanumeric ASCII characters, '_', '-',
'.', '@' are allowed" (the API reference lists only letters, digits, ``_`` and ``-``) and "Tag value
cannot exceed 255 characters"; a name may carry SES's ``ses:`` prefix (``ses:feedback-id-a``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

TAG_NAME = re.compile(r"[A-Za-z0-9_-]+")
TAG_VALUE = re.compile(r"[A-Za-z0-9_.@-]+")
TAG_MAX_LENGTH = 255
_OPTIONS = "mailflow_send_options"
_lock = threading.Lock()


class Patcher(Protocol):
    def set(self, owner: type, name: str, value: Any) -> None: ...


@dataclass(frozen=True)
class SendOptions:
    """What the send request said beyond moto's record of it."""

    configuration_set: str | None
    tags: tuple[tuple[str, str], ...]
    destinations: tuple[str, ...] | None
    """The request's recipients (To, Cc, Bcc, or v1 ``Destinations``); None when it named none."""
    sent_at: datetime


def send_options(message: Any) -> SendOptions | None:
    """The options kept with a message moto recorded (None for a send these patches did not see)."""
    found = getattr(message, _OPTIONS, None)
    return found if isinstance(found, SendOptions) else None


def sent_mail(account_id: str, region: str) -> list[Any]:
    """moto's record of the mail sent in one account and region, each message with its options."""
    from moto.ses.models import ses_backends

    with _lock:
        return list(ses_backends[account_id][region].sent_messages)


def tag_problem(name: str, value: str) -> str | None:
    """Why SES refuses this message tag, in SES's words; None when it accepts it."""
    if not name:
        return "The tag name must be specified."
    if not value:
        return "The tag value must be specified."
    if len(name) > TAG_MAX_LENGTH:
        return f"Tag name cannot exceed {TAG_MAX_LENGTH} characters."
    if not TAG_NAME.fullmatch(name.removeprefix("ses:")):
        return f"Invalid tag name <{name}>: only alphanumeric ASCII characters, '_', '-' are allowed."
    if len(value) > TAG_MAX_LENGTH:
        return f"Tag value cannot exceed {TAG_MAX_LENGTH} characters."
    if not TAG_VALUE.fullmatch(value):
        return (
            f"Invalid tag value <{value}>: only alphanumeric ASCII characters, '_', '-', '.', '@' "
            "are allowed."
        )
    return None


def _tags(raw: Any, invalid: Callable[[str], Exception]) -> tuple[tuple[str, str], ...]:
    tags = []
    for tag in raw or ():
        fields = tag if isinstance(tag, dict) else {}
        name, value = str(fields.get("Name") or ""), str(fields.get("Value") or "")
        problem = tag_problem(name, value)
        if problem:
            raise invalid(problem)
        tags.append((name, value))
    return tuple(tags)


def _destination_addresses(destination: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(address)
        for key in ("ToAddresses", "CcAddresses", "BccAddresses")
        for address in destination.get(key) or ()
    )


def _keep(backend: Any, message_id: str, options: SendOptions) -> None:
    for message in reversed(backend.sent_messages):
        if message.id == message_id:
            setattr(message, _OPTIONS, options)
            return


def _checked(
    backend: Any,
    configuration_set: str | None,
    tags: Any,
    destinations: Iterable[str] | None,
    errors: tuple[Callable[[str], Exception], Callable[[str], Exception]],
) -> SendOptions:
    not_found, invalid = errors
    kept_tags = _tags(tags, invalid)
    if configuration_set and configuration_set not in backend.config_sets:
        raise not_found(f"Configuration set <{configuration_set}> does not exist.")
    return SendOptions(
        configuration_set=configuration_set or None,
        tags=kept_tags,
        destinations=tuple(destinations) if destinations is not None else None,
        sent_at=datetime.now(UTC),
    )


def _v2_errors() -> tuple[Callable[[str], Exception], Callable[[str], Exception]]:
    from moto.core.exceptions import JsonRESTError

    return (
        lambda message: JsonRESTError("NotFoundException", message),
        lambda message: JsonRESTError("BadRequestException", message),
    )


def _v1_errors() -> tuple[Callable[[str], Exception], Callable[[str], Exception]]:
    from moto.ses.exceptions import ConfigurationSetDoesNotExist, InvalidParameterValue

    return ConfigurationSetDoesNotExist, InvalidParameterValue


def keep_send_options(patch: Patcher) -> None:
    """Patch 8: SES v2 ``SendEmail`` and SES v1 ``SendEmail``/``SendRawEmail``."""
    from moto.ses.responses import EmailResponse
    from moto.sesv2.responses import SESV2Response

    v2_send = SESV2Response.send_email
    v1_send, v1_send_raw = EmailResponse.send_email, EmailResponse.send_raw_email
    v2_errors, v1_errors = _v2_errors(), _v1_errors()

    def send_email_v2(self: Any) -> str:
        params = json.loads(self.body or "{}")
        destination = params.get("Destination")
        backend = self.sesv2_backend.core_backend
        options = _checked(
            backend,
            params.get("ConfigurationSetName"),
            params.get("EmailTags"),
            _destination_addresses(destination) if isinstance(destination, dict) else None,
            v2_errors,
        )
        with _lock:
            result: str = v2_send(self)
            _keep(backend, str(json.loads(result)["MessageId"]), options)
        return result

    def v1(original: Callable[[Any], Any], destinations: Callable[[Any], Iterable[str] | None]) -> Any:
        def send(self: Any) -> Any:
            options = _checked(
                self.backend,
                self._get_param("ConfigurationSetName"),
                self._get_param("Tags", []),
                destinations(self),
                v1_errors,
            )
            with _lock:
                result = original(self)
                _keep(self.backend, str(result.result["MessageId"]), options)
            return result

        return send

    def v1_destination(self: Any) -> tuple[str, ...]:
        return _destination_addresses(self._get_param("Destination", {}) or {})

    def v1_raw_destinations(self: Any) -> tuple[str, ...] | None:
        named = self._get_param("Destinations", []) or []
        return tuple(str(address) for address in named) if named else None

    patch.set(SESV2Response, "send_email", send_email_v2)
    patch.set(EmailResponse, "send_email", v1(v1_send, v1_destination))
    patch.set(EmailResponse, "send_raw_email", v1(v1_send_raw, v1_raw_destinations))
