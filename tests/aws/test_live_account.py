"""A stack's whole life in a real AWS account, through the installed ``mailflow`` command (make test-aws)."""

from __future__ import annotations

import sys

import pytest

from aws.runner import LiveStack, live_run
from aws.sequence import run_sequence
from aws.settings import LiveSettings
from aws.subprocess_cli import SubprocessCli, installed_mailflow

pytestmark = pytest.mark.aws


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# No pytest-timeout: every step has its own bounded timeout (StepTimeouts), and a test killed from
# outside could not destroy its stack.
@pytest.mark.timeout(0)
def test_deploy_send_operate_and_destroy(live_settings: LiveSettings) -> None:
    cli = SubprocessCli([installed_mailflow()])
    with live_run(cli, LiveStack.for_settings(live_settings), say) as run:
        run_sequence(run, live_settings)
