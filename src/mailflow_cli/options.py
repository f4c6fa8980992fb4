"""Options shared by every command, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
