"""What SES does with a message it accepted for sending: the mailbox simulator, the account-level
suppression list, virus rejection, and the events it publishes to the configuration set's destinations.

Written against SES's documented behaviour and its public API only (SES v2 for configuration sets,
destinations and the suppression list, SES v1 for identities, SNS to publish), so it runs the same
against the emulator's endpoint and against moto in a test.

- Mailbox simulator ("Using the mailbox simulator"; a ``+label`` is ignored): ``success@`` is delivered;
  ``bounce@`` bounces (Permanent, General, ``smtp; 550 5.1.1 user unknown``); ``ooto@`` is delivered (the
  out-of-office reply it sends to the sender is not simulated); ``complaint@`` is delivered, then
  complained about (``abuse``); ``suppressionlist@`` bounces as an address on the suppression list does.
  SES never puts the simulator's addresses on the suppression list. Any other recipient is delivered.
- Suppression ("Using the Amazon SES account-level suppression list", "Using the configuration
  set-level suppression list"): a configuration set with ``SuppressionOptions`` overrides the account's
  ``SuppressedReasons``; with at least one reason in force, a recipient on the list is accepted but not
  sent to: SES publishes a Bounce with ``bounceSubType`` ``OnAccountSuppressionList``.
- Rejection ("Testing Reject events"): a message carrying the EICAR test file in any part is rejected
  as a virus (Reject, ``Bad content``) and sent to nobody.
- Events: only for a send that named a configuration set; each goes to every enabled destination whose
  ``MatchingEventTypes`` has its type; SNS destinations only (others are logged as not emulated). Send,
  then Reject, or Delivery (one event for every recipient delivered), Bounce (one per bounce type, all
  its recipients, as SES combines the simulator's bounces), Complaint.
"""

from __future__ import annotations

import email
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import compat32
from email.utils import parseaddr
from enum import Enum
from typing import Any

from mailflow_cli.aws import error_code
from mailflow_cli.local import sending_events as records
from mailflow_cli.local.sent_mail import SentMail

log = logging.getLogger("mailflow.local.ses")

SIMULATOR_DOMAIN = "simulator.amazonses.com"
# The EICAR test file, written in two pieces so this source file is not itself mistaken for one.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class Fate(Enum):
    """What happened to one recipient of a message SES accepted."""

    DELIVERED = "delivered"
    OUT_OF_OFFICE = "delivered, out of office"
    COMPLAINED = "delivered, complaint (abuse)"
    BOUNCED = "bounced (550 5.1.1 user unknown)"
    SUPPRESSED = "suppressed (on the suppression list)"
    REJECTED = "rejected (virus)"

    @property
    def delivered(self) -> bool:
        return self in {Fate.DELIVERED, Fate.OUT_OF_OFFICE, Fate.COMPLAINED}


_MAILBOXES = {
    "success": Fate.DELIVERED,
    "bounce": Fate.BOUNCED,
    "ooto": Fate.OUT_OF_OFFICE,
    "complaint": Fate.COMPLAINED,
    "suppressionlist": Fate.SUPPRESSED,
}


def simulator_mailbox(address: str) -> str | None:
    """``bounce`` for ``bounce+label@simulator.amazonses.com``; None for an address elsewhere."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    return local.split("+", 1)[0]


def fate_of(address: str, *, suppressed: bool, rejected: bool) -> Fate:
    if rejected:
        return Fate.REJECTED
    if suppressed:
        return Fate.SUPPRESSED
    return _MAILBOXES.get(simulator_mailbox(address) or "", Fate.DELIVERED)


def carries_eicar(raw: bytes) -> bool:
    """Whether the EICAR test file is in the message or in any of its parts once decoded."""
    if EICAR in raw:
        return True
    for part in email.message_from_bytes(raw, policy=compat32).walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and EICAR in payload:
            return True
    return False


def recipients_with(fates: dict[str, Fate], *wanted: Fate) -> list[str]:
    return [address for address, fate in fates.items() if fate in wanted]


@dataclass(frozen=True)
class Simulation:
    fates: dict[str, Fate]
    """Each recipient's fate, in the order the send named them."""
    events: tuple[dict[str, Any], ...]
    """The event records SES publishes, in order (none when the send named no configuration set)."""


def events_for(mail: SentMail, fates: dict[str, Fate], sender: records.Sender) -> tuple[dict[str, Any], ...]:
    """The records SES publishes for a message whose recipients met these fates."""
    now = datetime.now(UTC)
    found = [records.event(mail, sender, records.SEND, {})]
    if recipients_with(fates, Fate.REJECTED):
        found.append(records.event(mail, sender, records.REJECT, records.bad_content()))
        return tuple(found)
    details = (
        (records.DELIVERY, [fate for fate in Fate if fate.delivered], records.delivery_of(mail)),
        (records.BOUNCE, [Fate.BOUNCED], records.user_unknown_bounce),
        (records.BOUNCE, [Fate.SUPPRESSED], records.suppressed_bounce),
        (records.COMPLAINT, [Fate.COMPLAINED], records.abuse_complaint),
    )
    for event_type, wanted, detail in details:
        recipients = recipients_with(fates, *wanted)
        if recipients:
            found.append(records.event(mail, sender, event_type, detail(recipients, now)))
    return tuple(found)


class SesSimulator:
    """Reads what SES knows (configuration sets, the suppression list, identities) through its API and
    publishes events through SNS's."""

    def __init__(self, *, sesv2: Any, ses: Any, sns: Any, account_id: str, region: str) -> None:
        self._sesv2 = sesv2
        self._ses = ses
        self._sns = sns
        self._account_id = account_id
        self._region = region

    def simulate(self, mail: SentMail) -> Simulation:
        configuration_set = self._configuration_set(mail.configuration_set)
        on_list = self._suppression_check(configuration_set)
        rejected = carries_eicar(mail.raw)
        fates = {
            address: fate_of(address, suppressed=on_list(address), rejected=rejected)
            for address in mail.destinations
        }
        if configuration_set is None:
            return Simulation(fates=fates, events=())
        return Simulation(fates=fates, events=events_for(mail, fates, self._sender(mail)))

    def publish(self, mail: SentMail, simulation: Simulation) -> list[str]:
        """Publish each event to the destinations that take it; return the event types published."""
        if not simulation.events or mail.configuration_set is None:
            return []
        destinations = self._enabled_sns_destinations(mail.configuration_set)
        published: list[str] = []
        for event in simulation.events:
            event_type = str(event["eventType"])
            for name, topic, types in destinations:
                taken = records.MATCHING_EVENT_TYPE[event_type] in types
                if taken and self._publish_one(topic, event, name) and event_type not in published:
                    published.append(event_type)
        log.info(
            "SES events for %s (configuration set %s): %s",
            mail.ses_message_id,
            mail.configuration_set,
            ", ".join(published) or "none (no enabled SNS destination takes them)",
        )
        return published

    def _publish_one(self, topic: str, event: dict[str, Any], destination: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._sns.publish(TopicArn=topic, Message=json.dumps(event))
        except ClientError as exc:
            log.warning(
                "event destination %s: SNS refused the %s event for %s (%s); dropped",
                destination,
                event["eventType"],
                event["mail"]["messageId"],
                error_code(exc),
            )
            return False
        return True

    def _configuration_set(self, name: str | None) -> dict[str, Any] | None:
        """The configuration set the send named, unless it is gone since (then nothing is published)."""
        from botocore.exceptions import ClientError

        if not name:
            return None
        try:
            return dict(self._sesv2.get_configuration_set(ConfigurationSetName=name))
        except ClientError as exc:
            if error_code(exc) != "NotFoundException":
                raise
            log.warning("configuration set %s was deleted after the send: no events published", name)
            return None

    def _suppression_check(self, configuration_set: dict[str, Any] | None) -> Callable[[str], bool]:
        """Whether a recipient is suppressed for this send: a configuration set's SuppressionOptions
        override the account's reasons; with none in force, the list is not used."""
        options = (configuration_set or {}).get("SuppressionOptions") or {}
        if "SuppressedReasons" in options:
            reasons = list(options["SuppressedReasons"] or [])
        else:
            account = self._sesv2.get_account().get("SuppressionAttributes") or {}
            reasons = list(account.get("SuppressedReasons") or [])
        if not reasons:
            return lambda address: False
        return self._on_suppression_list

    def _on_suppression_list(self, address: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._sesv2.get_suppressed_destination(EmailAddress=address)
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                return False
            raise
        return True

    def _sender(self, mail: SentMail) -> records.Sender:
        """The identity SES authorised the send with: the address if it is verified, else its domain."""
        address = parseaddr(mail.named_source or mail.source)[1].strip().lower()
        domain = address.rpartition("@")[2]
        known = self._ses.get_identity_verification_attributes(Identities=[address, domain])
        identity = address if address in known.get("VerificationAttributes", {}) else domain
        return records.Sender(
            account_id=self._account_id,
            source_arn=f"arn:aws:ses:{self._region}:{self._account_id}:identity/{identity}",
        )

    def _enabled_sns_destinations(self, configuration_set: str) -> list[tuple[str, str, list[str]]]:
        """(name, topic ARN, matching event types) of each enabled SNS destination."""
        from botocore.exceptions import ClientError

        try:
            found = self._sesv2.get_configuration_set_event_destinations(
                ConfigurationSetName=configuration_set
            )["EventDestinations"]
        except ClientError as exc:
            log.warning("event destinations of %s: %s; no events published", configuration_set, exc)
            return []
        destinations = []
        for destination in found:
            if not destination.get("Enabled"):
                continue
            topic = (destination.get("SnsDestination") or {}).get("TopicArn")
            if not topic:
                kinds = [key for key in destination if key.endswith("Destination")]
                log.warning(
                    "event destination %s (%s) is not emulated; only SNS destinations get events",
                    destination.get("Name"),
                    ", ".join(kinds) or "no destination",
                )
                continue
            types = [str(kind) for kind in destination.get("MatchingEventTypes") or []]
            destinations.append((str(destination.get("Name")), str(topic), types))
        return destinations
