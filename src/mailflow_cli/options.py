"""Options shared by every command, declared once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from mailflow_cli.context import StackContext

R = TypeVar("R")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "-c",
        "--config",
        help="The stack's configuration file. Default: ./mailflow.yaml, or $MAILFLOW_CONFIG.",
        envvar="MAILFLOW_CONFIG",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", help="AWS profile from ~/.aws/config (default: the standard chain).", show_default=False
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option("--region", help="AWS region; overrides `region:` in the config file.", show_default=False),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Talk to the running local emulator (`mailflow local start`) instead of AWS."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@dataclass(frozen=True)
class StackTarget:
    """The stack a command works on, as -c, --profile, --region and --local chose it."""

    config: Path | None = None
    profile: str | None = None
    region: str | None = None
    local: bool = False

    def open(self) -> StackContext:
        from mailflow_cli.context import open_stack

        return open_stack(self.config, profile=self.profile, region=self.region, local=self.local)


_TARGET_OPTIONS = (
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption),
    inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProfileOption),
    inspect.Parameter("region", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RegionOption),
    inspect.Parameter("local", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=LocalOption),
)


def stack_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command`` the options that choose its stack (-c, --profile, --region, --local, after its own)
    as one keyword parameter, ``target: StackTarget``."""
    # Evaluated here, in the command's module: typer reads the Annotated options from the signature.
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "target"]

    @functools.wraps(command)
    def with_target(
        *args: Any,
        config: Path | None = None,
        profile: str | None = None,
        region: str | None = None,
        local: bool = False,
        **kwargs: Any,
    ) -> R:
        return command(*args, target=StackTarget(config, profile, region, local), **kwargs)

    parameters = [*own, *_TARGET_OPTIONS]
    with_target.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_target.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_target


DEFAULT_TARGET = StackTarget()
"""``stack_options`` always passes a target; this default only keeps the parameter last in the list."""
