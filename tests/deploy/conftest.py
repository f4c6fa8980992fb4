"""Fixtures for the deploy engine's tests: moto with its gaps patched, configs, stacks, call recorders."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY
from mailflow_cli.deploy.moto_compat import install_moto_compat
from mailflow_cli.deploy.retry import NO_WAIT

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


@pytest.fixture(scope="session")
def handler_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handler source as it was when the session started: edits made meanwhile cannot change the zip."""
    import shutil

    from mailflow_cli.packaging import handler_source_dir

    target = tmp_path_factory.mktemp("handler") / "mailflow_handler"
    shutil.copytree(handler_source_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(autouse=True)
def frozen_handler_source(handler_snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailflow_cli.packaging.handler_source_dir", lambda: handler_snapshot)


@pytest.fixture(autouse=True)
def moto_gaps() -> Iterator[None]:
    """moto 5.2.5 gaps (see mailflow_cli.deploy.moto_compat): DeleteReceiptRule, bucket tags at
    creation, Lambda DeadLetterConfig, and bucket-policy Bool conditions."""
    undo = install_moto_compat()
    yield
    undo()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


ConfigWriter = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> ConfigWriter:
    counter = iter(range(1_000_000))

    def write(**overrides: Any) -> Path:
        path = tmp_path / f"mailflow-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump({**BASE_CONFIG, **overrides}), encoding="utf-8")
        return path

    return write


StackOpener = Callable[..., tuple[StackContext, CallRecorder]]


@pytest.fixture
def open_recorded() -> StackOpener:
    def opener(path: Path, fail_at: int | None = None) -> tuple[StackContext, CallRecorder]:
        ctx = open_stack(path)
        recorder = CallRecorder(fail_at=fail_at)
        ctx.clients.event_hooks.append(("before-call.*.*", recorder))
        ctx.extras[RETRY_POLICY_KEY] = NO_WAIT
        return ctx, recorder

    return opener
