"""IAM permissions, declared next to the code that makes the AWS calls.

Each deploy handler declares the actions and resources of its calls
(:meth:`~mailflow_cli.deploy.handlers.base.ResourceHandler.permissions`: ``read`` for discovery,
``write`` for create, update and delete), and each module behind a day-two command declares the calls of
that command (a ``permissions`` function). ``mailflow permissions`` (:mod:`mailflow_cli.permissions`)
merges the declarations of the commands a deployer runs into one least-privilege policy; the tests run
every command against moto and fail on a call that no declaration covers.

Resources come from :class:`Scopes` only, so that two declarations about the same resources share a
statement of the generated policy (named after the scope, and after the condition if there is one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailflow_cli.errors import MailflowError

if TYPE_CHECKING:
    from mailflow_cli.config import MailflowConfig
    from mailflow_cli.naming import StackNames

ANY = "*"


@dataclass(frozen=True)
class Scope:
    """The resources a grant is about, and the name its policy statement is given."""

    label: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """The condition of a grant, one ``(operator, key, values)`` clause per key; ``label`` ends the
    statement id (``HandlerRole`` + ``OnlyWithItsBoundary``)."""

    label: str
    clauses: tuple[tuple[str, str, tuple[str, ...]], ...]

    def to_json(self) -> dict[str, dict[str, str | list[str]]]:
        block: dict[str, dict[str, str | list[str]]] = {}
        for operator, key, values in self.clauses:
            block.setdefault(operator, {})[key] = values[0] if len(values) == 1 else list(values)
        return block


def condition(label: str, operator: str, key: str, *values: str) -> Condition:
    return Condition(label, ((operator, key, tuple(values)),))


@dataclass(frozen=True)
class Grant:
    """Actions on a scope's resources, allowed (or, with ``deny``, never allowed) under ``condition``.

    ``administrative`` grants are what only an administrator may do (``deploy.administrator``): the
    deployer's policy leaves them out, and denies them where a Deny grant says so."""

    actions: tuple[str, ...]
    scope: Scope
    condition: Condition | None = None
    deny: bool = False
    administrative: bool = False
    sid: str | None = None

    @property
    def statement_id(self) -> str:
        if self.sid is not None:
            return self.sid
        return self.scope.label + (self.condition.label if self.condition is not None else "")


def allow(scope: Scope, *actions: str, when: Condition | None = None) -> Grant:
    return Grant(tuple(actions), scope, when)


def only_administrator(scope: Scope, *actions: str) -> Grant:
    return Grant(tuple(actions), scope, administrative=True)


def never(sid: str, scope: Scope, *actions: str) -> Grant:
    return Grant(tuple(actions), scope, deny=True, sid=sid)


@dataclass(frozen=True)
class Access:
    """A deploy handler's grants: ``read`` for discovery (plan, status), ``write`` for its changes."""

    read: tuple[Grant, ...] = ()
    write: tuple[Grant, ...] = ()


class UndeclaredPermissions(MailflowError):
    """Code that calls AWS declares no permissions: a defect of Mailflow (the tests look for it)."""


@dataclass(frozen=True)
class Scopes:
    """Every resource a grant can name: the stack's own (from its names) and those the config names
    (its domains, the apps' ``senderPrincipals``)."""

    names: StackNames
    domains: tuple[str, ...] = ()
    sender_principals: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: MailflowConfig, names: StackNames) -> Scopes:
        principals = sorted({arn for app in config.apps for arn in app.sender_principals})
        return cls(names, tuple(config.domains), tuple(principals))

    def _regional(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.names.region}:{self.names.account_id}:{resource}"

    @property
    def any(self) -> Scope:
        """For actions without resource-level permissions (IAM then needs ``Resource: "*"``)."""
        return Scope("AnyResource", (ANY,))

    @property
    def bucket(self) -> Scope:
        return Scope("StackBucket", (self.names.bucket_arn,))

    @property
    def bucket_objects(self) -> Scope:
        return Scope("StackBucketObjects", (f"{self.names.bucket_arn}/*",))

    def bucket_prefix(self, label: str, prefix: str) -> Scope:
        return Scope(label, (f"{self.names.bucket_arn}/{prefix}*",))

    @property
    def queues(self) -> Scope:
        return Scope("StackQueues", (self.names.queue_arn(f"{self.names.name_prefix}*"),))

    @property
    def dead_letter_queues(self) -> Scope:
        queues = self.names.dead_letter_queues
        return Scope("DeadLetterQueues", tuple(self.names.queue_arn(queue) for queue in queues))

    @property
    def outbound_queue(self) -> Scope:
        return Scope("OutboundQueue", (self.names.queue_arn(self.names.outbound_queue),))

    @property
    def table(self) -> Scope:
        return Scope("IdempotencyTable", (self.names.table_arn,))

    @property
    def handler_role(self) -> Scope:
        return Scope("HandlerRole", (self.names.role_arn,))

    @property
    def boundary(self) -> Scope:
        return Scope("HandlerBoundary", (self.names.boundary_arn,))

    @property
    def log_group(self) -> Scope:
        """The group, and (``:*``) its streams: CloudWatch Logs checks some actions against either."""
        return Scope("HandlerLogGroup", (self.names.log_group_arn, f"{self.names.log_group_arn}:*"))

    @property
    def function(self) -> Scope:
        return Scope("HandlerFunction", (self.names.function_arn,))

    @property
    def event_source_mappings(self) -> Scope:
        return Scope("EventSourceMappings", (self._regional("lambda", "event-source-mapping:*"),))

    @property
    def topics(self) -> Scope:
        """The alarm topic and the topic SES publishes the stack's sending events to."""
        return Scope("StackTopics", (self.names.topic_arn, self.names.events_topic_arn))

    @property
    def configuration_set(self) -> Scope:
        return Scope("ConfigurationSet", (self.names.configuration_set_arn,))

    @property
    def alarms(self) -> Scope:
        return Scope("StackAlarms", (self._regional("cloudwatch", f"alarm:{self.names.name_prefix}*"),))

    @property
    def sender_roles(self) -> Scope:
        return Scope("SenderRoles", _principals(self.sender_principals, ":role/"))

    @property
    def sender_users(self) -> Scope:
        return Scope("SenderUsers", _principals(self.sender_principals, ":user/"))

    @property
    def domain_identities(self) -> Scope:
        return Scope("DomainIdentities", tuple(self._regional("ses", f"identity/{d}") for d in self.domains))

    @property
    def hosted_zones(self) -> Scope:
        """Route 53 zones are found at run time (the zone of a domain): their ids are not known here."""
        return Scope("HostedZones", ("arn:aws:route53:::hostedzone/*",))

    @property
    def dns_changes(self) -> Scope:
        return Scope("DnsChanges", ("arn:aws:route53:::change/*",))


def _principals(arns: Iterable[str], kind: str) -> tuple[str, ...]:
    return tuple(arn for arn in arns if kind in arn)
