"""What a stack command starts from: the validated config, the AWS clients and the stack's names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import MailflowConfig, load_config, resolve_config_path
from mailflow_cli.errors import ConfigError
from mailflow_cli.naming import StackNames, stack_names


@dataclass
class StackContext:
    config: MailflowConfig
    config_path: Path
    clients: AwsClients
    local: bool = False
    extras: dict[str, object] = field(default_factory=dict)

    @cached_property
    def names(self) -> StackNames:
        return stack_names(self.config, self.clients.account_id())


def aws_target(region: str, profile: str | None, local: bool) -> AwsTarget:
    """AWS itself, or with ``local`` the running emulator with the access key of its state file."""
    if not local:
        return AwsTarget(region=region, profile=profile)
    from mailflow_cli.local.state import running_state

    state = running_state()
    if state.region != region:
        _warn_region(state.region, region)
    return AwsTarget(
        region=region,
        endpoint_url=state.endpoint,
        access_key=state.access_key,
        secret_key=state.secret_key,
    )


def _warn_region(emulator_region: str, stack_region: str) -> None:
    """The emulator plays SES inbound in one region: mail to a stack in another one is refused."""
    from mailflow_cli.console import err, styled

    err.print(
        styled(
            ("Warning:", "yellow"),
            f" the local emulator receives mail in {emulator_region}, but this stack is in {stack_region}: "
            "mail to it is refused (550 Mailbox does not exist). To receive its mail, restart the emulator "
            f"in {stack_region} (this empties it; deploy again after): "
            f"mailflow local stop && mailflow local start --region {stack_region}",
        )
    )


def open_stack(
    config_path: Path | None,
    *,
    profile: str | None = None,
    region: str | None = None,
    local: bool = False,
) -> StackContext:
    """Validate the config first: a bad file is reported before any AWS call is made."""
    path = resolve_config_path(str(config_path) if config_path else None, os.environ)
    config = load_config(path)
    if region and region != config.region:
        config = _with_region(config, region)
    target = aws_target(config.region, profile, local)
    return StackContext(config=config, config_path=path, clients=AwsClients(target), local=local)


def _with_region(config: MailflowConfig, region: str) -> MailflowConfig:
    """The config with ``--region`` applied, validated as the file's region is (model_copy would not)."""
    from pydantic import ValidationError

    try:
        return MailflowConfig.model_validate({**config.model_dump(by_alias=True), "region": region})
    except ValidationError as exc:
        problems = "; ".join(
            str(error.get("msg", "")).removeprefix("Value error, ") for error in exc.errors()
        )
        raise ConfigError(f"--region: {problems}") from None
