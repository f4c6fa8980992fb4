"""Runs the live suite's steps through a CLI and destroys the stack on every way out.

Nothing here starts a process or talks to AWS: the CLI is injected (:class:`Cli`), so the unit tests
drive this code with a fake and prove that the stack is destroyed when a step fails, on Ctrl-C and on
SIGTERM, and that a destroy that fails is reported with the command to run by hand.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from aws.settings import LiveSettings
from mailflow_cli.operate.durations import format_duration

DESTROY_ARGS = ("destroy", "--yes", "--force")
MIN_ATTEMPT_SECONDS = 30.0
OUTPUT_LINES_SHOWN = 20

Say = Callable[[str], None]


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int | None  # None: the command was killed at its timeout
    stdout: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class Cli(Protocol):
    def run(self, args: Sequence[str], *, timeout: float) -> CliResult:
        """Run ``mailflow ARGS``; kill it and return ``returncode=None`` after ``timeout`` seconds."""
        ...

    def command_line(self, args: Sequence[str]) -> str:
        """``mailflow ARGS`` exactly as a user would type it in a shell."""
        ...


class StepFailed(Exception):
    """A step did not do what it should; names the step, why, and the end of what it printed."""

    def __init__(self, step: str, reason: str, result: CliResult | None = None) -> None:
        output = _tail(result.stdout) if result is not None else ""
        super().__init__(f"{step}: {reason}" + (f"\n{output}" if output else ""))
        self.step = step
        self.reason = reason
        self.result = result


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the run unwinds through its cleanup as on Ctrl-C."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"terminated by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class LiveStack:
    """One run's stack: its environment and the config file naming it, kept until destroy succeeds."""

    settings: LiveSettings
    config_path: Path
    owns_directory: bool

    @classmethod
    def for_settings(cls, settings: LiveSettings) -> LiveStack:
        if settings.workdir is None:
            directory, owned = Path(tempfile.mkdtemp(prefix="mailflow-live-")), True
        else:
            directory, owned = settings.workdir, False
            directory.mkdir(parents=True, exist_ok=True)
        return cls(settings, directory / f"mailflow-{settings.environment}.yaml", owned)

    @property
    def environment(self) -> str:
        return self.settings.environment

    def write(self) -> None:
        self.config_path.write_text(self.settings.config_text(), encoding="utf-8")

    def remove(self) -> None:
        if self.owns_directory:
            shutil.rmtree(self.config_path.parent, ignore_errors=True)
        else:
            self.config_path.unlink(missing_ok=True)


class LiveRun:
    """The steps of one run; every command gets ``-c <the run's config>``."""

    def __init__(
        self, cli: Cli, stack: LiveStack, say: Say, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.cli = cli
        self.stack = stack
        self.say = say
        self.sleep = sleep
        self.destroy_attempted = False
        self.destroyed = False

    def _with_config(self, args: Sequence[str]) -> list[str]:
        return [*args, "-c", str(self.stack.config_path)]

    @property
    def destroy_command(self) -> str:
        return self.cli.command_line(self._with_config(DESTROY_ARGS))

    def step(
        self, name: str, args: Sequence[str], *, timeout: float, exit_codes: Sequence[int] = (0,)
    ) -> CliResult:
        """Run one command; :class:`StepFailed` when it times out or exits otherwise."""
        self._announce(name, args, timeout)
        return self._run(name, args, timeout, exit_codes)

    def poll(
        self,
        name: str,
        args: Sequence[str],
        *,
        timeout: float,
        until: Callable[[CliResult], bool],
        interval: float,
    ) -> CliResult:
        """Run a command again every ``interval`` seconds until ``until`` accepts its result (for what
        AWS makes visible only after a while: log events, deleted queues)."""
        self._announce(name, args, timeout)
        deadline = time.monotonic() + timeout

        def attempt() -> CliResult:
            remaining = max(MIN_ATTEMPT_SECONDS, deadline - time.monotonic())
            return self._run(name, args, remaining, (0,))

        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            retry=retry_if_result(lambda result: not until(result)),
            sleep=self.sleep,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            last: CliResult = exc.last_attempt.result()
            raise StepFailed(name, f"not seen within {format_duration(timeout)}", last) from None

    def destroy(self) -> None:
        self.destroy_attempted = True
        self.step("destroy", DESTROY_ARGS, timeout=self.stack.settings.timeouts.destroy)
        self.destroyed = True

    def clean_up(self) -> bool:
        """After a failure or an interruption: destroy the stack unless that was tried already. True
        when the stack is gone and nothing failed after it (the config file is then removed)."""
        if not self.destroy_attempted:
            self.say(f"Cleaning up: destroying the stack of environment {self.stack.environment}")
            try:
                self.destroy()
            except BaseException as exc:  # a cleanup never hides the error that started it
                self.say(f"✗ cleanup failed: {describe(exc)}")
            else:
                self.stack.remove()
                return True
        self.say(
            f"The stack of environment {self.stack.environment} may not be fully removed. "
            f"Remove it by hand with: {self.destroy_command}"
        )
        return False

    def _announce(self, name: str, args: Sequence[str], timeout: float) -> None:
        self.say(
            f"▶ {name} (at most {format_duration(timeout)}): {self.cli.command_line(self._with_config(args))}"
        )

    def _run(self, name: str, args: Sequence[str], timeout: float, exit_codes: Sequence[int]) -> CliResult:
        started = time.monotonic()
        result = self.cli.run(self._with_config(args), timeout=timeout)
        took = format_duration(time.monotonic() - started)
        if result.timed_out:
            reason = f"no result within {format_duration(timeout)}; the command was killed"
            raise StepFailed(name, reason, result)
        if result.returncode not in exit_codes:
            raise StepFailed(name, f"exit {result.returncode} after {took}", result)
        self.say(f"  exit {result.returncode} after {took}")
        return result


@contextmanager
def live_run(
    cli: Cli, stack: LiveStack, say: Say, *, sleep: Callable[[float], None] = time.sleep
) -> Iterator[LiveRun]:
    """Writes the config, yields the run, and destroys the stack however the block ends: normally, by
    an exception, by Ctrl-C or by SIGTERM. The config file is removed only when the stack is gone."""
    run = LiveRun(cli, stack, say, sleep=sleep)
    settings = stack.settings
    with sigterm_unwinds():
        say(
            f"Live suite: environment {stack.environment} in account {settings.account}, region "
            f"{settings.region}, config {stack.config_path}"
        )
        say(f"If this run is killed before it cleans up, remove its stack with: {run.destroy_command}")
        try:
            stack.write()
            yield run
            if not run.destroy_attempted:
                run.destroy()
        except BaseException as exc:
            say(f"✗ {describe(exc)}")
            if not run.clean_up():
                exc.add_note(f"Remove the stack by hand with: {run.destroy_command}")
            raise
        stack.remove()


def describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exc, StepFailed | Terminated):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {exc}"


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    shown = lines[-OUTPUT_LINES_SHOWN:]
    skipped = f"  … ({len(lines) - len(shown)} earlier lines)\n" if len(lines) > len(shown) else ""
    return skipped + "\n".join(f"  | {line}" for line in shown)
