"""Errors the CLI reports as one clear sentence (and a hint) instead of a traceback."""

from __future__ import annotations

from collections.abc import Sequence


class MailflowError(Exception):
    """An expected failure: shown to the user without a traceback, with a distinct exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = tuple(details)


class ConfigError(MailflowError):
    """The configuration file or a command-line argument is invalid. Nothing was sent to AWS."""

    exit_code = 2


class UsageError(MailflowError):
    """A command was called in a way that cannot work (for example, destroy without a TTY or --yes)."""

    exit_code = 2


class AwsError(MailflowError):
    """AWS refused a call in a way the user can act on (access denied, quota, unsupported region)."""

    exit_code = 1


class StackNotFoundError(MailflowError):
    """The stack named by the configuration does not exist (not deployed, or another account/region)."""

    exit_code = 1
