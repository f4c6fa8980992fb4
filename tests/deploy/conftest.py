"""Fixtures for the deploy engine's tests: moto with its gaps patched, configs, stacks, call recorders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import BASE_CONFIG, CallRecorder, ConfigWriter, StackOpener
from moto import mock_aws

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.deploy import RETRY_POLICY_KEY
from mailflow_cli.deploy.retry import NO_WAIT
from mailflow_cli.local.moto_patches import install_moto_compat


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
    """moto 5.2.5 gaps (see mailflow_cli.local.moto_patches): DeleteReceiptRule, bucket tags at
    creation, Lambda DeadLetterConfig, and bucket-policy Bool conditions."""
    undo = install_moto_compat()
    yield
    undo()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def write_config(tmp_path: Path) -> ConfigWriter:
    counter = iter(range(1_000_000))

    def write(**overrides: Any) -> Path:
        path = tmp_path / f"mailflow-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump({**BASE_CONFIG, **overrides}), encoding="utf-8")
        return path

    return write


@pytest.fixture
def open_recorded() -> StackOpener:
    def opener(path: Path, fail_at: int | None = None) -> tuple[StackContext, CallRecorder]:
        ctx = open_stack(path)
        recorder = CallRecorder(fail_at=fail_at)
        ctx.clients.event_hooks.append(("before-call.*.*", recorder))
        ctx.extras[RETRY_POLICY_KEY] = NO_WAIT
        return ctx, recorder

    return opener
