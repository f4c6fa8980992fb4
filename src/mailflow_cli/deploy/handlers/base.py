"""The handler contract and what every handler is given (clients, names, retry policy)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from mailflow_cli.aws import AwsClients, error_code
from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Conflict, Observed, Resource
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.retry import RetryPolicy
from mailflow_cli.naming import StackNames, is_owned

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class Services:
    clients: AwsClients
    names: StackNames
    config: MailflowConfig
    retry: RetryPolicy

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

    def owns(self, tags: Mapping[str, str]) -> bool:
        return is_owned(dict(tags), self.names.environment)

    @abstractmethod
    def discover(self, resource: R) -> Observed | None: ...

    @abstractmethod
    def create(self, resource: R, step: StepReporter) -> None: ...

    @abstractmethod
    def update(
        self, resource: R, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None: ...

    @abstractmethod
    def delete(self, resource: R, observed: Observed, step: StepReporter) -> None: ...

    def strays(self, desired: Sequence[R]) -> Sequence[R]:
        """Resources of this kind that follow the stack's naming but are no longer in the config."""
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

    def holds_data(self, observed: Observed) -> str | None:
        """A reason not to delete (mail still stored), or None."""
        return None

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
