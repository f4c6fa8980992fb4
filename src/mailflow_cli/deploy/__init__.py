"""The deploy engine: config -> desired state -> plan (read-only) -> execute.

Other commands and tests use these four functions; ``ctx`` is a :class:`~mailflow_cli.context.StackContext`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.aws import translate_client_error
from mailflow_cli.config import SES_RECEIVING_REGIONS
from mailflow_cli.context import StackContext
from mailflow_cli.deploy.desired import DesiredStack, desired_stack
from mailflow_cli.deploy.execute import apply_plan
from mailflow_cli.deploy.handlers.base import Services
from mailflow_cli.deploy.handlers.registry import SERVICES, HandlerRegistry, handler_permissions
from mailflow_cli.deploy.model import Action, Change, Conflict, Plan
from mailflow_cli.deploy.outputs import KnownOutputs, StackOutputs, collect_outputs, read_outputs
from mailflow_cli.deploy.outputs import permissions as outputs_permissions
from mailflow_cli.deploy.plan import plan_deploy, plan_destroy
from mailflow_cli.deploy.principals import permissions as sender_permissions
from mailflow_cli.deploy.principals import resolve_sender_ids
from mailflow_cli.deploy.progress import ProgressCallback, ProgressEvent, Status, ignore_progress
from mailflow_cli.deploy.resources.function import FunctionSpec
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.deploy.retry import RetryPolicy
from mailflow_cli.errors import AwsError, MailflowError, UsageError
from mailflow_cli.packaging import build_bundle

__all__ = [
    "RETRY_POLICY_KEY",
    "Action",
    "Change",
    "Conflict",
    "DestroyReport",
    "Plan",
    "ProgressEvent",
    "RetryPolicy",
    "StackOutputs",
    "Status",
    "deploy_stack",
    "destroy_stack",
    "plan_stack",
    "read_outputs",
]

RETRY_POLICY_KEY = "retry_policy"


@dataclass(frozen=True)
class DestroyReport:
    deleted: tuple[str, ...]
    left_alone: tuple[Conflict, ...] = ()
    kept: tuple[Conflict, ...] = ()
    plan: Plan | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": list(self.deleted),
            "leftAlone": [item.to_json() for item in self.left_alone],
            "kept": [item.to_json() for item in self.kept],
        }


def _retry_policy(ctx: StackContext) -> RetryPolicy:
    policy = ctx.extras.get(RETRY_POLICY_KEY)
    return policy if isinstance(policy, RetryPolicy) else RetryPolicy()


def _check_region(ctx: StackContext) -> None:
    if ctx.config.region not in SES_RECEIVING_REGIONS:
        raise AwsError(
            f"the region {ctx.config.region} does not support SES email receiving",
            hint=f"choose one of: {', '.join(sorted(SES_RECEIVING_REGIONS))}",
        )


def _create_clients(ctx: StackContext) -> threading.Thread:
    """Create the engine's clients on a thread of their own while the account id is looked up: a new
    client costs CPU, and the STS call is a wait that this work can fill. A client that fails here fails
    again, with its error reported, where discovery first uses it."""

    def create() -> None:
        try:
            for service in SERVICES:
                ctx.clients.client(service)
        except Exception:
            return  # a warm-up: where the client is used, its error is reported

    thread = threading.Thread(target=create, name="mailflow-clients", daemon=True)
    thread.start()
    return thread


def _engine(ctx: StackContext, *, for_destroy: bool = False) -> tuple[HandlerRegistry, DesiredStack]:
    """Destroy needs the stack's names, not its code: it neither resolves senderPrincipals (which may
    be gone by then) nor cares what the zip holds."""
    ctx.clients.client("sts")  # first, so that the account id lookup does not queue behind the others
    creating = _create_clients(ctx)
    names = ctx.names
    registry = HandlerRegistry(
        Services(ctx.clients, names, ctx.config, _retry_policy(ctx), config_path=str(ctx.config_path))
    )
    sender_ids = {} if for_destroy else resolve_sender_ids(ctx.clients, ctx.config)
    bundle = build_bundle(ctx.config, names, sender_ids=sender_ids)
    desired = desired_stack(ctx.config, names, bundle)
    creating.join()
    return registry, desired


def plan_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """What ``plan`` calls: the senderPrincipals lookup and every handler's discovery."""
    return (*sender_permissions(scopes), *(g for access in handler_permissions(scopes) for g in access.read))


def destroy_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """What ``destroy`` calls: every handler's discovery and changes (it resolves no senderPrincipals)."""
    return tuple(g for access in handler_permissions(scopes) for g in (*access.read, *access.write))


def deploy_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """What ``deploy`` calls: a plan, every handler's changes, and the outputs the plan did not find."""
    writes = (g for access in handler_permissions(scopes) for g in access.write)
    return (*plan_permissions(scopes), *writes, *outputs_permissions(scopes))


def _reading(ctx: StackContext, action: Callable[[], Plan]) -> Plan:
    try:
        return action()
    except ClientError as exc:
        raise translate_client_error(exc, f"the stack {ctx.names.prefix} (discovery)") from exc


def plan_stack(ctx: StackContext, *, allow_data_loss: bool = False) -> Plan:
    """Read-only: what ``deploy`` would do."""
    _check_region(ctx)
    registry, desired = _engine(ctx)
    return _reading(ctx, lambda: plan_deploy(registry, desired.resources, allow_data_loss=allow_data_loss))


def _stop_on(plan: Plan) -> None:
    if plan.conflicts:
        first = plan.conflicts[0]
        raise MailflowError(
            f"deploy stopped before changing anything: {first.kind} {first.name}: {first.reason}",
            hint=first.hint,
            details=[f"{c.kind} {c.name}: {c.reason}" for c in plan.conflicts[1:]],
        )
    if plan.blocked:
        raise MailflowError(
            "deploy stopped before changing anything: removing these would lose mail",
            hint=plan.blocked[0].hint,
            details=[f"{c.kind} {c.name} {c.reason}" for c in plan.blocked],
        )


def deploy_stack(
    ctx: StackContext,
    *,
    assume_yes: bool = True,
    allow_data_loss: bool = False,
    progress: ProgressCallback | None = None,
    confirm: Callable[[Plan], bool] | None = None,
) -> StackOutputs:
    """Converge the stack on the config. Deletions need ``assume_yes`` or a ``confirm`` that says yes."""
    _check_region(ctx)
    registry, desired = _engine(ctx)
    plan = _reading(ctx, lambda: plan_deploy(registry, desired.resources, allow_data_loss=allow_data_loss))
    _stop_on(plan)
    if plan.deletes and not assume_yes:
        if confirm is None:
            raise UsageError(
                f"the plan deletes {len(plan.deletes)} resource(s) and confirmation is needed",
                hint="run in a terminal to confirm, or pass --yes",
            )
        if not confirm(plan):
            raise UsageError("deploy cancelled; nothing was changed")
    learned: dict[str, Mapping[str, Any]] = {}
    administrative, rest = plan.split_administrative()
    # Alone and first: credentials that may not make these stop the deploy before anything changed.
    apply_plan(registry, administrative, progress or ignore_progress, learned)
    apply_plan(registry, rest, progress or ignore_progress, learned)
    return collect_outputs(ctx, _known_outputs(plan, learned))


def _known_outputs(plan: Plan, learned: Mapping[str, Mapping[str, Any]]) -> KnownOutputs:
    """What the plan found and the creates returned, so that the outputs need no discovery of their own.
    The deploy succeeded, so every resource now has its desired attributes: the rule set is active."""
    urls: dict[str, str] = {}
    function_arn: str | None = None
    for change in plan.changes:
        if change.action is Action.DELETE:
            continue
        handles = learned.get(change.key) or (change.observed.handle if change.observed else {})
        if change.kind == QueueSpec.kind and "url" in handles:
            urls[change.name] = str(handles["url"])
        elif change.kind == FunctionSpec.kind and "arn" in handles:
            function_arn = str(handles["arn"])
    return KnownOutputs(queue_urls=urls, function_arn=function_arn, rule_set_active=True)


def destroy_plan(ctx: StackContext, *, force: bool = False) -> Plan:
    registry, desired = _engine(ctx, for_destroy=True)
    return _reading(ctx, lambda: plan_destroy(registry, desired.resources, force=force))


def destroy_stack(
    ctx: StackContext,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    confirm: Callable[[Plan], bool] | None = None,
) -> DestroyReport:
    """Delete every resource of this stack that carries its ownership tags; leave everything else."""
    registry, desired = _engine(ctx, for_destroy=True)
    plan = _reading(ctx, lambda: plan_destroy(registry, desired.resources, force=force))
    if plan.blocked:
        raise MailflowError(
            "destroy stopped before deleting anything: some resources still hold mail",
            hint=plan.blocked[0].hint,
            details=[f"{c.kind} {c.name} {c.reason}" for c in plan.blocked],
        )
    if confirm is not None and plan.deletes and not confirm(plan):
        raise UsageError("destroy cancelled; nothing was deleted")
    administrative, rest = plan.split_administrative()
    deleted = apply_plan(registry, rest, progress or ignore_progress)
    # Last, once nothing depends on them: credentials that may not make these leave only them behind.
    deleted += apply_plan(registry, administrative, progress or ignore_progress)
    return DestroyReport(tuple(deleted), plan.conflicts, plan.kept, plan)
