"""The handler contract and what every handler is given (clients, names, retry policy)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from mailflow_cli.access import Access, Scopes, UndeclaredPermissions
from mailflow_cli.aws import MAX_POOL_CONNECTIONS, AwsClients, error_code
from mailflow_cli.config import DEFAULT_CONFIG_NAME, MailflowConfig
from mailflow_cli.deploy.model import Action, Conflict, Observed, Resource
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.retry import RetryPolicy
from mailflow_cli.naming import StackNames, is_owned

R = TypeVar("R", bound=Resource)
T = TypeVar("T")
U = TypeVar("U")
A = TypeVar("A")
B = TypeVar("B")

FETCH_WORKERS = MAX_POOL_CONNECTIONS
"""Threads of one fan-out: each client keeps this many connections, so more threads would only queue."""


def fan_out(function: Callable[[T], U], items: Sequence[T]) -> list[U]:
    """``map`` on a short-lived thread pool, results in order. Every call finishes before an exception
    (the first in item order) is raised, so no call is left running behind the caller's back."""
    if len(items) <= 1:
        return [function(item) for item in items]
    workers = min(FETCH_WORKERS, len(items))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailflow-fetch") as pool:
        futures = [pool.submit(function, item) for item in items]
    return [future.result() for future in futures]


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Run two independent calls at the same time."""
    results: list[Any] = fan_out(lambda call: call(), [first, second])
    return results[0], results[1]


def concurrently(*calls: Callable[[], object]) -> None:
    """Run independent calls at the same time; each may be a sequence of calls of its own."""
    fan_out(lambda call: call(), list(calls))


@dataclass(frozen=True)
class Discovery(Generic[R]):
    """What discovery found for one kind: ``observed`` by key (desired resources and strays; ``None`` =
    missing) and the strays (resources that follow the stack's naming but are no longer configured)."""

    observed: Mapping[str, Observed | None]
    strays: tuple[R, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    """Kind-wide things read on the way that :meth:`ResourceHandler.assess_all` may reuse."""


@dataclass(frozen=True)
class Services:
    clients: AwsClients
    names: StackNames
    config: MailflowConfig
    retry: RetryPolicy
    config_path: str = DEFAULT_CONFIG_NAME
    """Named in the commands an administrator is asked to run."""

    def client(self, service: str) -> Any:
        return self.clients.client(service)


class ResourceHandler(ABC, Generic[R]):
    """Discovery is read-only; create/update/delete change exactly the resource they are given."""

    resource_type: ClassVar[type[Resource]]

    def __init__(self, services: Services) -> None:
        self.services = services
        self.names = services.names

    def client(self, service: str) -> Any:
        return self.services.client(service)

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """The IAM permissions of this handler's calls: ``read`` for discovery, ``write`` for create,
        update and delete (a change also discovers, so ``write`` need not repeat a read). ``mailflow
        permissions`` builds the deployer's policy from them; every handler declares its own."""
        raise UndeclaredPermissions(
            f"{cls.__name__} declares no IAM permissions, so the deployer policy cannot cover its calls",
            hint=f"give {cls.__name__} a `permissions` classmethod (see mailflow_cli.access)",
        )

    def owns(self, tags: Mapping[str, str]) -> bool:
        return is_owned(dict(tags), self.names.environment)

    @abstractmethod
    def discover(self, resource: R) -> Observed | None: ...

    def discover_all(self, desired: Sequence[R]) -> Discovery[R]:
        """Discover every desired resource of this kind and its strays, concurrently.

        Kinds with many instances override this to list once (by the stack's name prefix) and then fetch
        details only for the resources that exist."""
        strays = tuple(self.strays(desired))
        resources = [*desired, *strays]
        found = fan_out(self.discover, resources)
        return Discovery({r.key: o for r, o in zip(resources, found, strict=True)}, strays)

    @abstractmethod
    def create(self, resource: R, step: StepReporter) -> Mapping[str, Any] | None:
        """Create the resource; may return handles learned on the way (a queue's URL, an ARN)."""

    @abstractmethod
    def update(
        self, resource: R, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None: ...

    @abstractmethod
    def delete(self, resource: R, observed: Observed, step: StepReporter) -> None: ...

    def strays(self, desired: Sequence[R]) -> Sequence[R]:
        """Resources of this kind that follow the stack's naming but are no longer in the config
        (used by the default :meth:`discover_all`)."""
        return ()

    def assess(self, resource: R, observed: Observed | None) -> Conflict | None:
        if observed is not None and not observed.owned:
            return Conflict(
                resource.kind,
                resource.name,
                f"exists but does not carry Mailflow's ownership tags for environment "
                f"{self.names.environment!r}; Mailflow will not modify or delete it",
                hint="rename or delete that resource, or deploy this stack under another environment name",
            )
        return None

    def assess_all(self, desired: Sequence[R], found: Discovery[R]) -> dict[str, Conflict | None]:
        """:meth:`assess` for every desired resource of this kind, given what discovery found."""
        return {resource.key: self.assess(resource, found.observed[resource.key]) for resource in desired}

    def holds_data(self, observed: Observed) -> str | None:
        """A reason not to delete (mail still stored), or None."""
        return None

    def administrative(self, action: Action, changed: frozenset[str]) -> bool:
        """Whether this change needs an administrator (``deploy.administrator``): the deployer's policy
        cannot make it. Such changes run alone, first on deploy and last on destroy."""
        return False

    def kept_on_destroy(self, resource: R, observed: Observed) -> str | None:
        """A reason destroy leaves this resource (for example: other stacks still use it), or None."""
        return None


def missing(exc: Exception, *codes: str) -> bool:
    return error_code(exc) in codes


def tag_delta(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    to_set = {key: value for key, value in new.items() if old.get(key) != value}
    to_remove = sorted(key for key in old if key not in new)
    return to_set, to_remove


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(
    items: Sequence[Mapping[str, str]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    return {item[key]: item[value] for item in items or ()}


def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(result_key, []))
    return items


Waiting = Callable[[str], None]
