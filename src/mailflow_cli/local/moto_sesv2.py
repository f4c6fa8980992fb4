"""The SES v2 APIs moto 5.2 lacks, with AWS's semantics: configuration set event destinations, the
account-level suppression list, a configuration set's suppression options, and ``GetAccount``.

Installed by :mod:`mailflow_cli.local.moto_patches` like its other patches (each function takes the
patcher and sets methods on moto's classes; the state lives on moto's own per-account, per-region SES v2
backend, so ``mock_aws`` and moto's reset clear it).

AWS references: the SES v2 API reference for each operation (errors ``NotFoundException``,
``AlreadyExistsException``, ``BadRequestException``), and "Using the Amazon SES account-level
suppression list" for what a suppressed address means.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

EVENT_TYPES = frozenset(
    {
        "SEND",
        "REJECT",
        "BOUNCE",
        "COMPLAINT",
        "DELIVERY",
        "OPEN",
        "CLICK",
        "RENDERING_FAILURE",
        "DELIVERY_DELAY",
        "SUBSCRIPTION",
    }
)
SUPPRESSION_REASONS = frozenset({"BOUNCE", "COMPLAINT"})
DEFAULT_PAGE_SIZE = 1000


class Patcher(Protocol):
    def set(self, owner: Any, name: str, value: Any) -> None: ...


@dataclass
class SuppressedAddress:
    address: str
    reason: str
    updated: float
    message_id: str | None = None
    feedback_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"EmailAddress": self.address, "Reason": self.reason, "LastUpdateTime": self.updated}

    def detail(self) -> dict[str, Any]:
        attributes = {
            key: value
            for key, value in (("MessageId", self.message_id), ("FeedbackId", self.feedback_id))
            if value
        }
        return {**self.summary(), **({"Attributes": attributes} if attributes else {})}


@dataclass
class Sesv2State:
    """What this module adds to one SES v2 backend (one account and region)."""

    destinations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    suppressed: dict[str, SuppressedAddress] = field(default_factory=dict)
    account_suppressed_reasons: list[str] = field(default_factory=list)


def state_of(backend: Any) -> Sesv2State:
    """This module's state on a moto SES v2 backend (created on first use)."""
    found = backend.__dict__.get("mailflow_sesv2")
    if found is None:
        found = backend.__dict__.setdefault("mailflow_sesv2", Sesv2State())
    assert isinstance(found, Sesv2State)
    return found


def suppressed(backend: Any, address: str) -> SuppressedAddress | None:
    """The account-level suppression entry of ``address`` (compared case-insensitively, as SES does)."""
    return state_of(backend).suppressed.get(address.strip().lower())


def suppress(
    backend: Any, address: str, reason: str, *, message_id: str | None = None, feedback_id: str | None = None
) -> None:
    """Put ``address`` on the account-level suppression list, as SES does after a bounce or complaint."""
    key = address.strip().lower()
    state_of(backend).suppressed[key] = SuppressedAddress(
        key, reason, time.time(), message_id=message_id, feedback_id=feedback_id
    )


def event_destinations(backend: Any, configuration_set: str) -> list[dict[str, Any]]:
    """The event destinations of a configuration set, in the shape GetConfigurationSetEventDestinations
    returns them."""
    found = state_of(backend).destinations.get(configuration_set, {})
    return [{"Name": name, **destination} for name, destination in sorted(found.items())]


def _epoch(value: str | None) -> float | None:
    """A query-string timestamp (botocore sends ISO 8601; epoch seconds are accepted too)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _errors() -> tuple[Callable[[str], Exception], Callable[[str], Exception], Callable[[str], Exception]]:
    from moto.core.exceptions import JsonRESTError

    def not_found(message: str) -> Exception:
        return JsonRESTError("NotFoundException", message)

    def already_exists(message: str) -> Exception:
        return JsonRESTError("AlreadyExistsException", message)

    def bad_request(message: str) -> Exception:
        return JsonRESTError("BadRequestException", message)

    return not_found, already_exists, bad_request


def _check_destination(destination: Any, bad_request: Callable[[str], Exception]) -> dict[str, Any]:
    if not isinstance(destination, dict):
        raise bad_request("EventDestination is required")
    types = destination.get("MatchingEventTypes")
    if not isinstance(types, list) or not types or not set(types) <= EVENT_TYPES:
        raise bad_request(f"MatchingEventTypes must be a non-empty list of {sorted(EVENT_TYPES)}")
    return {
        "Enabled": bool(destination.get("Enabled", False)),
        "MatchingEventTypes": list(types),
        **{key: value for key, value in destination.items() if key.endswith("Destination")},
    }


def configuration_set_arn(response: Any, name: str) -> str:
    backend = response.sesv2_backend
    return f"arn:{backend.partition}:ses:{backend.region_name}:{backend.account_id}:configuration-set/{name}"


def add_event_destinations(patch: Patcher) -> None:
    """Create/Get/Update/DeleteConfigurationSetEventDestination(s); deleting a configuration set also
    deletes its destinations and its tags, a missing configuration set is ``NotFoundException``, and
    ``GetConfigurationSet`` reports the set's tags as Tag/UntagResource left them."""
    from moto.sesv2.responses import SESV2Response

    not_found, already_exists, bad_request = _errors()

    def config_set(self: Any) -> tuple[str, dict[str, dict[str, Any]]]:
        name = str(self._get_param("ConfigurationSetName"))
        if name not in self.sesv2_backend.core_backend.config_sets:
            raise not_found(f"Configuration set <{name}> does not exist.")
        return name, state_of(self.sesv2_backend).destinations.setdefault(name, {})

    def create(self: Any) -> str:
        _, destinations = config_set(self)
        name = str(self._get_param("EventDestinationName") or "")
        if not name:
            raise bad_request("EventDestinationName is required")
        if name in destinations:
            raise already_exists(f"Event destination <{name}> already exists.")
        destinations[name] = _check_destination(self._get_param("EventDestination"), bad_request)
        return "{}"

    def get_all(self: Any) -> str:
        name, _ = config_set(self)
        return json.dumps({"EventDestinations": event_destinations(self.sesv2_backend, name)})

    def update(self: Any) -> str:
        _, destinations = config_set(self)
        name = str(self._get_param("EventDestinationName"))
        if name not in destinations:
            raise not_found(f"Event destination <{name}> does not exist.")
        destinations[name] = _check_destination(self._get_param("EventDestination"), bad_request)
        return "{}"

    def delete(self: Any) -> str:
        _, destinations = config_set(self)
        name = str(self._get_param("EventDestinationName"))
        if destinations.pop(name, None) is None:
            raise not_found(f"Event destination <{name}> does not exist.")
        return "{}"

    def get_configuration_set(self: Any) -> str:
        name, _ = config_set(self)
        found = self.sesv2_backend.get_configuration_set(name).to_dict_v2()
        # moto answers with the tags the set was created with; AWS, with its tags as they are now
        found["Tags"] = self.sesv2_backend.list_tags_for_resource(configuration_set_arn(self, name))
        return json.dumps(found)

    def delete_configuration_set(self: Any) -> str:
        name, _ = config_set(self)
        self.sesv2_backend.delete_configuration_set(name)
        state_of(self.sesv2_backend).destinations.pop(name, None)
        self.sesv2_backend.core_backend.tagger.delete_all_tags_for_resource(configuration_set_arn(self, name))
        return "{}"

    def put_suppression_options(self: Any) -> str:
        name, _ = config_set(self)
        reasons = self._get_param("SuppressedReasons") or []
        if not set(reasons) <= SUPPRESSION_REASONS:
            raise bad_request(f"SuppressedReasons must be a list of {sorted(SUPPRESSION_REASONS)}")
        self.sesv2_backend.core_backend.config_sets[name].suppression_options = {
            "SuppressedReasons": list(reasons)
        }
        return "{}"

    patch.set(SESV2Response, "create_configuration_set_event_destination", create)
    patch.set(SESV2Response, "get_configuration_set_event_destinations", get_all)
    patch.set(SESV2Response, "update_configuration_set_event_destination", update)
    patch.set(SESV2Response, "delete_configuration_set_event_destination", delete)
    patch.set(SESV2Response, "get_configuration_set", get_configuration_set)
    patch.set(SESV2Response, "delete_configuration_set", delete_configuration_set)
    patch.set(SESV2Response, "put_configuration_set_suppression_options", put_suppression_options)


def add_suppression_list(patch: Patcher) -> None:
    """Put/Get/Delete/ListSuppressedDestination(s) and PutAccountSuppressionAttributes."""
    from moto.sesv2.responses import SESV2Response

    not_found, _, bad_request = _errors()

    def reason_of(self: Any) -> str:
        reason = self._get_param("Reason")
        if reason not in SUPPRESSION_REASONS:
            raise bad_request(f"Reason must be one of {sorted(SUPPRESSION_REASONS)}")
        return str(reason)

    def put(self: Any) -> str:
        address = str(self._get_param("EmailAddress") or "")
        if "@" not in address:
            raise bad_request(f"Invalid email address <{address}>.")
        suppress(self.sesv2_backend, address, reason_of(self))
        return "{}"

    def get(self: Any) -> str:
        address = str(self._get_param("EmailAddress"))
        entry = suppressed(self.sesv2_backend, address)
        if entry is None:
            raise not_found(f"Email address <{address}> does not exist on your suppression list.")
        return json.dumps({"SuppressedDestination": entry.detail()})

    def delete(self: Any) -> str:
        address = str(self._get_param("EmailAddress"))
        if state_of(self.sesv2_backend).suppressed.pop(address.strip().lower(), None) is None:
            raise not_found(f"Email address <{address}> does not exist on your suppression list.")
        return "{}"

    def list_all(self: Any) -> str:
        query = self.querystring  # GET: Reasons travels as the repeated query parameter `Reason`
        reasons = query.get("Reason") or sorted(SUPPRESSION_REASONS)
        start, end = (_epoch(query.get(name, [None])[0]) for name in ("StartDate", "EndDate"))
        size = int(query.get("PageSize", [DEFAULT_PAGE_SIZE])[0])
        offset = int(query.get("NextToken", [0])[0])
        entries = sorted(state_of(self.sesv2_backend).suppressed.values(), key=lambda e: e.address)
        matching = [
            entry
            for entry in entries
            if entry.reason in reasons
            and (start is None or entry.updated >= start)
            and (end is None or entry.updated <= end)
        ]
        page = matching[offset : offset + size]
        following = offset + size if offset + size < len(matching) else None
        document: dict[str, Any] = {"SuppressedDestinationSummaries": [entry.summary() for entry in page]}
        if following is not None:
            document["NextToken"] = str(following)
        return json.dumps(document)

    def put_account_attributes(self: Any) -> str:
        reasons = self._get_param("SuppressedReasons") or []
        if not set(reasons) <= SUPPRESSION_REASONS:
            raise bad_request(f"SuppressedReasons must be a list of {sorted(SUPPRESSION_REASONS)}")
        state_of(self.sesv2_backend).account_suppressed_reasons = list(reasons)
        return "{}"

    patch.set(SESV2Response, "put_suppressed_destination", put)
    patch.set(SESV2Response, "get_suppressed_destination", get)
    patch.set(SESV2Response, "delete_suppressed_destination", delete)
    patch.set(SESV2Response, "list_suppressed_destinations", list_all)
    patch.set(SESV2Response, "put_account_suppression_attributes", put_account_attributes)


def add_get_account(patch: Patcher) -> None:
    """``GetAccount`` for a new account: in the SES sandbox (moto's v1 quota: 200 a day, 1 a second),
    sending enabled, enforcement HEALTHY."""
    from moto.sesv2.responses import SESV2Response

    def get_account(self: Any) -> str:
        quota = self.sesv2_backend.core_backend.get_send_quota()
        return json.dumps(
            {
                "DedicatedIpAutoWarmupEnabled": False,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": False,
                "SendQuota": {
                    "Max24HourSend": float(quota.max24_hour_send),
                    "MaxSendRate": float(quota.max_send_rate),
                    "SentLast24Hours": float(quota.sent_last24_hours),
                },
                "SendingEnabled": True,
                "SuppressionAttributes": {
                    "SuppressedReasons": state_of(self.sesv2_backend).account_suppressed_reasons
                },
            }
        )

    patch.set(SESV2Response, "get_account", get_account)


SERVER_PATHS = (
    "/v2/email/account$",
    "/v2/email/account/suppression$",
    "/v2/email/configuration-sets/(?P<ConfigurationSetName>[^/]+)/event-destinations$",
    "/v2/email/configuration-sets/(?P<ConfigurationSetName>[^/]+)/event-destinations/(?P<EventDestinationName>[^/]+)$",
    "/v2/email/configuration-sets/(?P<ConfigurationSetName>[^/]+)/suppression-options$",
    "/v2/email/suppression/addresses$",
    "/v2/email/suppression/addresses/(?P<EmailAddress>[^/]+)$",
)
"""The request paths of the operations above. moto's SES v2 routes them in process through a catch-all
``/v2/.*`` pattern, which its server (the emulator) cannot turn into a route: there they were 404."""


def add_server_routes(patch: Patcher) -> None:
    """Route the operations above in moto's server too."""
    from moto.core.utils import convert_regex_to_flask_path
    from moto.sesv2.models import SESV2Backend
    from moto.sesv2.responses import SESV2Response

    inherited = inspect.getattr_static(SESV2Backend, "flask_paths")

    def flask_paths(self: Any) -> dict[str, Any]:
        paths = dict(inherited.fget(self))
        paths.update({convert_regex_to_flask_path(path): SESV2Response.dispatch for path in SERVER_PATHS})
        return paths

    patch.set(SESV2Backend, "flask_paths", property(flask_paths))


PATCHES = (add_event_destinations, add_suppression_list, add_get_account, add_server_routes)
