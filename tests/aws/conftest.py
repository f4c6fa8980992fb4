"""The live suite's gate: without credentials or a domain it stops at once, non-zero, with one line that
says what to set (it never passes by skipping)."""

from __future__ import annotations

import os

import pytest

from aws.settings import Boto3Chain, LiveSettings, SetupError, read_settings

SETTINGS = pytest.StashKey[LiveSettings]()


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[SETTINGS] = read_settings(os.environ, Boto3Chain())
    except SetupError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(autouse=True)
def fake_aws_credentials() -> None:
    """Overrides the fixture of that name in tests/conftest.py: this suite uses the real credential chain."""


@pytest.fixture
def live_settings(request: pytest.FixtureRequest) -> LiveSettings:
    return request.config.stash[SETTINGS]
