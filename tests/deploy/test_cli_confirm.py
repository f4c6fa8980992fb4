"""Deletions need a yes: from --yes, or from a terminal; without either the command refuses (exit 2)."""

from __future__ import annotations

import pytest
from deploy_helpers import ConfigWriter, StackOpener

from mailflow_cli.commands.stack import confirmer
from mailflow_cli.deploy import deploy_stack, destroy_stack, read_outputs
from mailflow_cli.errors import StackNotFoundError, UsageError


def test_without_a_terminal_and_without_yes_destroy_refuses(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = open_recorded(write_config())
    deploy_stack(ctx)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(UsageError, match="no terminal") as refused:
        destroy_stack(ctx, confirm=confirmer(False, "Destroy these resources?", always_show=True))
    assert refused.value.exit_code == 2
    assert "--yes" in str(refused.value.hint)
    assert read_outputs(ctx).lambda_function_name == "mailflow-dev-handler"


def test_outputs_of_a_stack_not_deployed_say_so(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    ctx, recorder = open_recorded(write_config())
    with pytest.raises(StackNotFoundError, match="is not deployed"):
        read_outputs(ctx)
    assert recorder.mutating == []
