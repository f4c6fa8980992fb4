"""Plan: discover the current state (read-only, concurrently) and diff it against the desired state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mailflow_cli.deploy.handlers.base import Discovery, ResourceHandler
from mailflow_cli.deploy.handlers.registry import HandlerRegistry
from mailflow_cli.deploy.model import (
    Action,
    AttributeDiff,
    Change,
    Conflict,
    Observed,
    Plan,
    Resource,
    canonical,
)

T = TypeVar("T")
U = TypeVar("U")


def _per_kind(function: Callable[[T], U], items: Sequence[T]) -> list[U]:
    """One thread per resource kind, so every kind's discovery starts at once; each kind fans its own
    per-resource reads out on a pool of its own (``handlers.base.fan_out``), so nothing waits in a queue
    behind another kind's work."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="mailflow-discover") as pool:
        return list(pool.map(function, items))


def diff_attributes(desired: dict[str, Any], observed: dict[str, Any]) -> tuple[AttributeDiff, ...]:
    return tuple(
        AttributeDiff(name, observed.get(name), value)
        for name, value in desired.items()
        if canonical(value) != canonical(observed.get(name))
    )


@dataclass(frozen=True)
class Survey:
    """Discovery of the whole stack: strays (in handler order), what was found, and conflicts."""

    strays: tuple[Resource, ...]
    observed: dict[str, Observed | None]
    conflicts: dict[str, Conflict | None] = field(default_factory=dict)


def survey(registry: HandlerRegistry, desired: Sequence[Resource], *, assess: bool) -> Survey:
    """Discover every desired resource and every stray, kind by kind and all kinds at once; with
    ``assess``, each kind's desired resources are also checked for conflicts as soon as that kind is
    discovered (no kind waits for the slowest)."""

    def one_kind(
        entry: tuple[type[Resource], ResourceHandler[Any]],
    ) -> tuple[Discovery[Any], dict[str, Conflict | None]]:
        resource_type, handler = entry
        mine = [r for r in desired if type(r) is resource_type]
        found = handler.discover_all(mine)
        conflicts = handler.assess_all(mine, found) if assess else {}
        return found, conflicts

    strays: list[Resource] = []
    observed: dict[str, Observed | None] = {}
    conflicts: dict[str, Conflict | None] = {}
    for found, assessed in _per_kind(one_kind, registry.items()):
        strays.extend(found.strays)
        observed.update(found.observed)
        conflicts.update(assessed)
    return Survey(tuple(strays), observed, conflicts)


def plan_deploy(registry: HandlerRegistry, desired: Sequence[Resource], *, allow_data_loss: bool) -> Plan:
    found = survey(registry, desired, assess=True)
    strays, observed, conflicts = found.strays, found.observed, found.conflicts
    desired_keys = {resource.key for resource in desired}
    changes: list[Change] = []
    found_conflicts: list[Conflict] = []
    blocked: list[Conflict] = []
    for resource in desired:
        current = observed[resource.key]
        conflict = conflicts[resource.key]
        if conflict is not None:
            found_conflicts.append(conflict)
            continue
        depends = tuple(key for key in resource.depends_on() if key in desired_keys)
        handler = registry.for_resource(resource)
        if current is None:
            diffs = tuple(AttributeDiff(name, None, value) for name, value in resource.attributes().items())
            admin = handler.administrative(Action.CREATE, frozenset(resource.attributes()))
            changes.append(
                Change(resource.kind, resource.name, Action.CREATE, diffs, depends, resource, None, admin)
            )
            continue
        diffs = diff_attributes(resource.attributes(), dict(current.attributes))
        action = Action.UPDATE if diffs else Action.NO_CHANGE
        admin = bool(diffs) and handler.administrative(action, frozenset(diff.attribute for diff in diffs))
        changes.append(Change(resource.kind, resource.name, action, diffs, depends, resource, current, admin))
    for stray in strays:
        current = observed[stray.key]
        if current is None or not current.owned:
            continue
        stray_handler = registry.for_resource(stray)
        reason = stray_handler.holds_data(current)
        if reason and not allow_data_loss:
            blocked.append(
                Conflict(
                    stray.kind,
                    stray.name,
                    f"is no longer in the config but {reason}",
                    hint="let its app drain it first, or deploy with --allow-data-loss to delete it anyway",
                )
            )
        replacements = tuple(resource.key for resource in desired if resource.kind == stray.kind)
        admin = stray_handler.administrative(Action.DELETE, frozenset())
        changes.append(Change(stray.kind, stray.name, Action.DELETE, (), replacements, stray, current, admin))
    return Plan(tuple(changes), tuple(found_conflicts), tuple(blocked))


def plan_destroy(registry: HandlerRegistry, desired: Sequence[Resource], *, force: bool) -> Plan:
    found = survey(registry, desired, assess=False)
    resources = [*desired, *found.strays]
    observed = found.observed
    changes: list[Change] = []
    foreign: list[Conflict] = []
    blocked: list[Conflict] = []
    kept: list[Conflict] = []
    keys = {resource.key for resource in resources}
    not_ours = {key for key, current in observed.items() if current is not None and not current.owned}
    for resource in resources:
        current = observed[resource.key]
        if current is None:
            continue
        handler = registry.for_resource(resource)
        if not current.owned:
            foreign.append(
                Conflict(
                    resource.kind, resource.name, "left alone: it does not carry this stack's ownership tags"
                )
            )
            continue
        foreign_parent = resource.owned_through()
        if foreign_parent in not_ours:
            foreign.append(
                Conflict(
                    resource.kind,
                    resource.name,
                    f"left alone: it belongs to {foreign_parent}, which this stack does not own",
                )
            )
            continue
        keep_reason = handler.kept_on_destroy(resource, current)
        if keep_reason:
            kept.append(Conflict(resource.kind, resource.name, f"kept: {keep_reason}"))
            continue
        reason = handler.holds_data(current)
        if reason and not force:
            blocked.append(
                Conflict(
                    resource.kind,
                    resource.name,
                    reason,
                    hint="read or move the mail first, or run destroy with --force to delete it",
                )
            )
        depends = tuple(key for key in resource.depends_on() if key in keys)
        admin = handler.administrative(Action.DELETE, frozenset())
        changes.append(
            Change(resource.kind, resource.name, Action.DELETE, (), depends, resource, current, admin)
        )
    return Plan(tuple(changes), tuple(foreign), tuple(blocked), tuple(kept))
