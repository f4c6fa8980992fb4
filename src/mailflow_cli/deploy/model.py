"""Plain data shared by the three stages: desired resources, observed state, and the plan's changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


@dataclass(frozen=True)
class Resource:
    """One resource Mailflow manages: its kind, deterministic name and the attributes it owns."""

    kind: ClassVar[str] = "resource"
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def depends_on(self) -> tuple[str, ...]:
        """Keys of the resources that must exist before this one can be created."""
        return ()

    def attributes(self) -> dict[str, Any]:
        """The managed attributes in the normalised form that discovery reports them in."""
        return {}

    def owned_through(self) -> str | None:
        """For a resource that cannot carry tags: the key of the resource whose owner it follows."""
        return None


@dataclass(frozen=True)
class Observed:
    """What discovery found: the managed attributes, whether this stack owns it, and lookup handles."""

    attributes: Mapping[str, Any]
    owned: bool = True
    handle: Mapping[str, Any] = field(default_factory=dict)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NO_CHANGE = "no-change"


@dataclass(frozen=True)
class AttributeDiff:
    attribute: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Change:
    """One line of the plan. ``resource`` and ``observed`` stay out of the JSON form."""

    kind: str
    name: str
    action: Action
    diffs: tuple[AttributeDiff, ...] = ()
    depends_on: tuple[str, ...] = ()
    resource: Resource | None = field(default=None, compare=False, repr=False)
    observed: Observed | None = field(default=None, compare=False, repr=False)
    administrative: bool = False
    """Only an administrator may make this change (``deploy.administrator``)."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action.value,
            "changes": [diff.to_json() for diff in self.diffs],
            "dependsOn": list(self.depends_on),
            "needsAdministrator": self.administrative,
        }


@dataclass(frozen=True)
class Conflict:
    """A resource Mailflow must not touch (foreign, or blocked); deploy stops before any mutation."""

    kind: str
    name: str
    reason: str
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason, "hint": self.hint}


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    conflicts: tuple[Conflict, ...] = ()
    blocked: tuple[Conflict, ...] = ()
    kept: tuple[Conflict, ...] = ()

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action is not Action.NO_CHANGE)

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def administrative(self) -> tuple[Change, ...]:
        return tuple(change for change in self.pending if change.administrative)

    def split_administrative(self) -> tuple[Plan, Plan]:
        """The administrative changes, and the rest: each a plan of its own, to run one after the other."""
        return (
            Plan(tuple(change for change in self.changes if change.administrative)),
            Plan(tuple(change for change in self.changes if not change.administrative)),
        )

    @property
    def deletes(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action is Action.DELETE)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [change.to_json() for change in self.changes],
            "conflicts": [conflict.to_json() for conflict in self.conflicts],
            "blocked": [blocked.to_json() for blocked in self.blocked],
            "kept": [kept.to_json() for kept in self.kept],
            "summary": {action.value: self.count(action) for action in Action},
        }


def canonical(value: Any) -> str:
    """A stable text form for comparing and showing attribute values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
