"""Changes only an administrator may make: writing the handler role's permissions boundary, and putting it
on the role. The deployer's policy (docs/permissions.md) leaves them out on purpose: a deployer that
could rewrite its own boundary could escalate. Deploy makes these changes first and alone, so a deployer
that may not make them stops before anything else is changed; destroy makes them last."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from mailflow_cli.aws import error_code
from mailflow_cli.errors import MailflowError

T = TypeVar("T")

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class AdministratorNeeded(MailflowError):
    """The credentials in use may not make an administrative change (by design, for the deployer)."""


def as_administrator(call: Callable[[], T], *, what: str, why: str, commands: list[list[str]]) -> T:
    """Run ``call``; when AWS denies it, say which resource, why it must change, and what an
    administrator runs instead (``mailflow deploy`` with their credentials, or ``commands``)."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) not in ACCESS_DENIED_CODES:
            raise
        raise AdministratorNeeded(
            f"{what} {why}, and only an administrator may change it: these credentials were denied "
            f"{exc.operation_name} (the deployer policy of docs/permissions.md leaves it out on purpose, "
            "so that the deployer cannot widen what the handler role may do)",
            hint="run the same `mailflow deploy` (or `destroy`) once with administrator credentials, or "
            "have an administrator run: " + " && ".join(shell_command(command) for command in commands),
        ) from exc


def shell_command(words: list[str]) -> str:
    """Words joined for a POSIX shell; a word starting with ``$(`` is a command substitution, kept."""
    return " ".join(word if word.startswith('"$(') else shlex.quote(word) for word in words)
