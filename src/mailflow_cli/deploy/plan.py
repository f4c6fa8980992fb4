"""Plan: discover the current state (read-only, concurrently) and diff it against the desired state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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

DISCOVERY_WORKERS = 8
T = TypeVar("T")
U = TypeVar("U")


def _parallel(function: Callable[[T], U], items: Sequence[T]) -> list[U]:
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=DISCOVERY_WORKERS, thread_name_prefix="mailflow-discover") as pool:
        return list(pool.map(function, items))


def diff_attributes(desired: dict[str, Any], observed: dict[str, Any]) -> tuple[AttributeDiff, ...]:
    return tuple(
        AttributeDiff(name, observed.get(name), value)
        for name, value in desired.items()
        if canonical(value) != canonical(observed.get(name))
    )


def find_strays(registry: HandlerRegistry, desired: Sequence[Resource]) -> list[Resource]:
    def strays_of(entry: tuple[type[Resource], Any]) -> list[Resource]:
        resource_type, handler = entry
        return list(handler.strays([r for r in desired if type(r) is resource_type]))

    return [stray for found in _parallel(strays_of, registry.items()) for stray in found]


def discover(registry: HandlerRegistry, resources: Sequence[Resource]) -> dict[str, Observed | None]:
    found = _parallel(lambda r: registry.for_resource(r).discover(r), resources)
    return {resource.key: observed for resource, observed in zip(resources, found, strict=True)}


def _assess(
    registry: HandlerRegistry, resources: Sequence[Resource], observed: dict[str, Observed | None]
) -> dict[str, Conflict | None]:
    found = _parallel(lambda r: registry.for_resource(r).assess(r, observed[r.key]), resources)
    return {resource.key: conflict for resource, conflict in zip(resources, found, strict=True)}


def plan_deploy(registry: HandlerRegistry, desired: Sequence[Resource], *, allow_data_loss: bool) -> Plan:
    strays = find_strays(registry, desired)
    observed = discover(registry, [*desired, *strays])
    conflicts = _assess(registry, desired, observed)
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
        if current is None:
            diffs = tuple(AttributeDiff(name, None, value) for name, value in resource.attributes().items())
            changes.append(
                Change(resource.kind, resource.name, Action.CREATE, diffs, depends, resource, None)
            )
            continue
        diffs = diff_attributes(resource.attributes(), dict(current.attributes))
        action = Action.UPDATE if diffs else Action.NO_CHANGE
        changes.append(Change(resource.kind, resource.name, action, diffs, depends, resource, current))
    for stray in strays:
        current = observed[stray.key]
        if current is None or not current.owned:
            continue
        reason = registry.for_resource(stray).holds_data(current)
        if reason and not allow_data_loss:
            blocked.append(
                Conflict(
                    stray.kind,
                    stray.name,
                    f"is no longer in the config but {reason}",
                    hint="let its app drain it first, or deploy with --allow-data-loss to delete it anyway",
                )
            )
        changes.append(Change(stray.kind, stray.name, Action.DELETE, (), (), stray, current))
    return Plan(tuple(changes), tuple(found_conflicts), tuple(blocked))


def plan_destroy(registry: HandlerRegistry, desired: Sequence[Resource], *, force: bool) -> Plan:
    resources = [*desired, *find_strays(registry, desired)]
    observed = discover(registry, resources)
    changes: list[Change] = []
    foreign: list[Conflict] = []
    blocked: list[Conflict] = []
    kept: list[Conflict] = []
    keys = {resource.key for resource in resources}
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
        changes.append(Change(resource.kind, resource.name, Action.DELETE, (), depends, resource, current))
    return Plan(tuple(changes), tuple(foreign), tuple(blocked), tuple(kept))
