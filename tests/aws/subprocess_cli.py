"""The installed ``mailflow`` console script, run as a subprocess exactly as a user runs it.

It inherits the environment (AWS_PROFILE, AWS_DEFAULT_REGION and the rest of the standard credential
chain) and the terminal's stderr, so progress shows live. stdout is kept for the checks and, unless it
is ``--json`` data, echoed line by line as it arrives (verify-domain's DNS records, for example). A
command still running at its timeout, or when Ctrl-C or SIGTERM interrupts the run, is killed before
the interruption goes on to the cleanup.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TextIO

from aws.runner import CliResult

READER_JOIN_SECONDS = 10.0


def installed_mailflow() -> str:
    """The console script of the environment running the suite (the checkout that ``make`` installed),
    else the first ``mailflow`` on PATH."""
    beside_python = Path(sys.executable).parent / "mailflow"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("mailflow")
    if found is None:
        raise FileNotFoundError("the mailflow console script is not installed (run make install)")
    return found


class SubprocessCli:
    def __init__(self, command: Sequence[str], echo: TextIO | None = None) -> None:
        self.command = tuple(command)
        self.echo = echo  # None: whatever sys.stdout is when the line arrives

    def command_line(self, args: Sequence[str]) -> str:
        return shlex.join([*self.command, *args])

    def run(self, args: Sequence[str], *, timeout: float) -> CliResult:
        process = subprocess.Popen(
            [*self.command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        lines: list[str] = []
        echo = "--json" not in args
        reader = threading.Thread(target=self._read, args=(process.stdout, lines, echo), daemon=True)
        reader.start()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:  # also on KeyboardInterrupt and Terminated: never leave the command running
            killed = process.poll() is None
            if killed:
                process.kill()
                process.wait()
            reader.join(READER_JOIN_SECONDS)
        return CliResult(tuple(args), None if killed else process.returncode, "".join(lines))

    def _read(self, stream: IO[str], lines: list[str], echo: bool) -> None:
        for line in stream:
            lines.append(line)
            if echo:
                target = self.echo or sys.stdout
                target.write(line)
                target.flush()
