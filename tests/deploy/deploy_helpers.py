"""Helpers shared by the deploy engine's tests (a module, not conftest, so tests can import it by name)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mailflow_cli.context import StackContext

READ_PREFIXES = ("Get", "Describe", "List", "Head")
BASE_CONFIG: dict[str, Any] = {
    "environment": "dev",
    "region": "eu-west-1",
    "domains": ["example.com"],
    "apps": ["app1", "app2"],
}


_CLIENTS: dict[str, Any] = {}


def aws_client(service: str) -> Any:
    """A boto3 client for assertions, created once per process (mock_aws intercepts it whenever active)."""
    if service not in _CLIENTS:
        _CLIENTS[service] = boto3.client(service, region_name="eu-west-1")
    return _CLIENTS[service]


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass
class CallRecorder:
    """Records every AWS call; can fail the n-th mutating call, or the n-th occurrence of one operation
    (``fail_on``), which stays the same call however the concurrent executor orders them."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_at: int | None = None
    fail_on: tuple[tuple[str, str], int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def mutating(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if is_mutating(call[1])]

    def __call__(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        call = (service, model.name)
        with self._lock:
            previous = self.calls.count(call)
            self.calls.append(call)
            position = len(self.mutating) - 1
            fail = is_mutating(model.name) and (
                (self.fail_at is not None and position == self.fail_at)
                or (self.fail_on is not None and self.fail_on == (call, previous))
            )
        if fail:
            raise ClientError(
                {"Error": {"Code": "InjectedFailure", "Message": f"injected at mutating call #{position}"}},
                model.name,
            )


ConfigWriter = Callable[..., Path]
StackOpener = Callable[..., tuple[StackContext, CallRecorder]]
