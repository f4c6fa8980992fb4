"""Finding the stack's resources by their deterministic names, with one clear error when it is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import MISSING_QUEUE_CODES, error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.errors import StackNotFoundError, UsageError

QueueKind = Literal[
    "app", "default", "outbound", "events", "apps-dlq", "outbound-dlq", "inbound-dlq", "events-dlq"
]
EVENTS_QUEUE_ALIAS = "ses-events"

MISSING_RESOURCE_CODES = frozenset({"ResourceNotFoundException", "ResourceNotFound"})

DLQ_ALIASES: dict[str, QueueKind] = {
    "dlq": "apps-dlq",
    "dlq:apps": "apps-dlq",
    "apps": "apps-dlq",
    "apps-dlq": "apps-dlq",
    "dlq:outbound": "outbound-dlq",
    "outbound-dlq": "outbound-dlq",
    "dlq:inbound": "inbound-dlq",
    "inbound": "inbound-dlq",
    "inbound-dlq": "inbound-dlq",
    "dlq:events": "events-dlq",
    "events-dlq": "events-dlq",
    "ses-events-dlq": "events-dlq",
}
QUEUE_CHOICES = "default, outbound, ses-events, dlq, dlq:apps, dlq:outbound, dlq:inbound, dlq:events"


@dataclass(frozen=True)
class QueueRef:
    """One of the stack's queues: what the user called it, its SQS name and URL, and its role."""

    label: str
    name: str
    url: str
    kind: QueueKind
    app: str | None = None

    @property
    def is_dlq(self) -> bool:
        return self.kind.endswith("-dlq")


def stack_not_deployed(ctx: StackContext, missing: str) -> StackNotFoundError:
    return StackNotFoundError(
        f"the stack {ctx.names.prefix} is not deployed in {ctx.config.region} "
        f"(run mailflow deploy -c {ctx.config_path})",
        details=[f"{missing} was not found"],
        hint="check --profile/--region (and --local), or deploy the stack first",
    )


def unknown_app(ctx: StackContext, app: str) -> UsageError:
    return UsageError(
        f"{app!r} is not an app of the stack {ctx.names.prefix}",
        hint=f"configured apps: {', '.join(ctx.config.app_names)} (in {ctx.config_path})",
    )


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Finding the stack's queues by name (:func:`queue_url`)."""
    return (allow(scopes.queues, "sqs:GetQueueUrl"),)


def queue_url(ctx: StackContext, queue_name: str) -> str:
    from botocore.exceptions import ClientError

    try:
        response = ctx.clients.client("sqs").get_queue_url(QueueName=queue_name)
    except ClientError as exc:
        if error_code(exc) in MISSING_QUEUE_CODES:
            raise stack_not_deployed(ctx, f"the queue {queue_name}") from None
        raise translate_client_error(exc, f"the queue {queue_name}") from exc
    return str(response["QueueUrl"])


def app_queue(ctx: StackContext, app: str) -> QueueRef:
    if ctx.config.app(app) is None:
        raise unknown_app(ctx, app)
    name = ctx.names.app_queue(app.lower())
    return QueueRef(label=app.lower(), name=name, url=queue_url(ctx, name), kind="app", app=app.lower())


def queue_name_for(ctx: StackContext, kind: QueueKind, app: str | None = None) -> str:
    names = ctx.names
    by_kind: dict[QueueKind, str] = {
        "default": names.default_queue,
        "outbound": names.outbound_queue,
        "events": names.events_queue,
        "apps-dlq": names.apps_dlq,
        "outbound-dlq": names.outbound_dlq,
        "inbound-dlq": names.inbound_dlq,
        "events-dlq": names.events_dlq,
    }
    if kind == "app":
        return names.app_queue(app or "")
    return by_kind[kind]


def resolve_queue(ctx: StackContext, target: str) -> QueueRef:
    """``APP``, ``default``, ``outbound``, ``ses-events``, ``dlq`` (the apps DLQ),
    ``dlq:apps|outbound|inbound|events``."""
    key = target.strip().lower()
    fixed: dict[str, QueueKind] = {"default": "default", "outbound": "outbound", EVENTS_QUEUE_ALIAS: "events"}
    if key in fixed:
        kind = fixed[key]
    elif key in DLQ_ALIASES:
        kind = DLQ_ALIASES[key]
    elif ctx.config.app(key) is not None:
        return app_queue(ctx, key)
    else:
        raise UsageError(
            f"{target!r} is neither an app nor one of the stack's queues",
            hint=f"choose one of: {', '.join(ctx.config.app_names)}, {QUEUE_CHOICES}",
        )
    name = queue_name_for(ctx, kind)
    return QueueRef(label=key, name=name, url=queue_url(ctx, name), kind=kind)


def dead_letter_queues(ctx: StackContext) -> list[QueueRef]:
    kinds: list[tuple[str, QueueKind]] = [
        ("dlq:apps", "apps-dlq"),
        ("dlq:outbound", "outbound-dlq"),
        ("dlq:inbound", "inbound-dlq"),
        ("dlq:events", "events-dlq"),
    ]
    return [
        QueueRef(
            label=label,
            name=queue_name_for(ctx, kind),
            url=queue_url(ctx, queue_name_for(ctx, kind)),
            kind=kind,
        )
        for label, kind in kinds
    ]


def queue_arn(ctx: StackContext, ref: QueueRef) -> str:
    return ctx.names.queue_arn(ref.name)


def describe(sqs: Any, url: str, attributes: list[str]) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=attributes).get("Attributes", {}))
