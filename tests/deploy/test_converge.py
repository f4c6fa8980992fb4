"""Re-deploys are no-ops; config changes give the minimal plan; destroy leaves nothing owned behind."""

from __future__ import annotations

from conftest import ConfigWriter, StackOpener

from mailflow_cli.deploy import Action, deploy_stack, destroy_stack, plan_stack


def test_redeploy_makes_no_mutating_call(aws: None, write_config: ConfigWriter, open_recorded: StackOpener) -> None:
    path = write_config(alarms={"email": "ops@example.com"}, lambda_={"reservedConcurrency": 5})
    first, _ = open_recorded(path)
    deploy_stack(first)
    second, recorder = open_recorded(path)
    deploy_stack(second)
    assert recorder.calls, "the second deploy should have read the stack"
    assert recorder.mutating == []
    assert not plan_stack(second).has_changes
