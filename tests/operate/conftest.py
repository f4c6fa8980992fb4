"""Fixtures for the day-two commands: a config file, a moto stack, a fake clock and a CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from operate_helpers import Cli, CliResult, create_stack

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.operate import timing

CONFIG_TEXT = """\
environment: dev
region: eu-west-1
domains:
  - example.com
  - example.org
apps:
  - app1
  - app2
"""


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailflow.yaml"
    path.write_text(CONFIG_TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ctx(config_path: Path, aws: None) -> StackContext:
    """A context on an empty account: nothing deployed yet."""
    return open_stack(config_path)


@pytest.fixture
def stack(ctx: StackContext) -> StackContext:
    create_stack(ctx)
    return ctx


@pytest.fixture
def clock() -> Iterator[timing.FakeClock]:
    fake = timing.FakeClock()
    timing.use_clock(fake.as_clock())
    yield fake
    timing.use_clock(timing.SYSTEM_CLOCK)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: timing.FakeClock, monkeypatch: pytest.MonkeyPatch) -> Cli:
    from mailflow_cli import cli as cli_module
    from mailflow_cli import console

    for stream in (console.out, console.err):  # wide enough that tables never fold a value
        monkeypatch.setattr(stream, "_width", 240)

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            cli_module.run(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
