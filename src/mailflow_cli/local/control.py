"""Start, find and stop the emulator process from the CLI (the process itself is local/server.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mailflow_cli.errors import MailflowError
from mailflow_cli.local.ports import HOST, port_is_free
from mailflow_cli.local.private_files import append_private, private_dir
from mailflow_cli.local.server import EXIT_PORT_BUSY, EmulatorOptions
from mailflow_cli.local.state import EmulatorState, pid_alive, read_state

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Status:
    state: EmulatorState | None
    running: bool
    stale: bool


def status(home: Path) -> Status:
    state = read_state(home / "state.json")
    if state is None:
        return Status(state=None, running=False, stale=False)
    alive = process_running(state.pid)
    return Status(state=state, running=alive, stale=not alive)


def process_running(pid: int) -> bool:
    return pid_alive(pid) and not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """An exited process not yet reaped (by us when it is our child, else by init) counts as gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = 0
    if done == pid:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def clear_stale(options: EmulatorOptions) -> str | None:
    """Refuse when an emulator is running; remove a dead one's state file and say so."""
    current = status(options.home)
    if current.running and current.state is not None:
        raise MailflowError(
            f"the local emulator is already running (pid {current.state.pid}, {current.state.endpoint}, "
            f"SMTP {current.state.smtp_host}:{current.state.smtp_port})",
            hint="use it as it is, or stop it first with `mailflow local stop`",
        )
    if current.stale and current.state is not None:
        (options.home / "state.json").unlink(missing_ok=True)
        return f"removed the state file of an emulator that is no longer running (pid {current.state.pid})"
    return None


def check_ports(options: EmulatorOptions) -> None:
    for what, flag, port in (
        ("AWS endpoint", "--port", options.port),
        ("SMTP ingress", "--smtp-port", options.smtp_port),
        ("web inbox", "--ui-port", options.ui_port),
    ):
        if port and not port_is_free(port):
            raise MailflowError(
                f"port {port} on {HOST} (the {what}) is already in use",
                hint=f"choose another port with {flag}, or stop what is listening there",
            )


def server_command(options: EmulatorOptions) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mailflow_cli.local.server",
        "--port",
        str(options.port),
        "--smtp-port",
        str(options.smtp_port),
        "--region",
        options.region,
        "--home",
        str(options.home),
        "--failure-visibility",
        str(options.failure_visibility_seconds),
        "--ui-port",
        str(options.ui_port),
    ]


def log_path(home: Path) -> Path:
    return home / "emulator.log"


def _tail(path: Path, lines: int = 8) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def start_background(options: EmulatorOptions, timeout: float = START_TIMEOUT_SECONDS) -> EmulatorState:
    """Start the emulator detached from this process; return once its state file says it is ready."""
    private_dir(options.home)
    log = log_path(options.home)
    with append_private(log) as log_file:
        process = subprocess.Popen(
            server_command(options),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    return wait_ready(process, options, log, timeout)


def wait_ready(
    process: subprocess.Popen[bytes], options: EmulatorOptions, log: Path, timeout: float
) -> EmulatorState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            reason = "a port is already in use" if code == EXIT_PORT_BUSY else f"it exited with status {code}"
            raise MailflowError(
                f"the local emulator did not start: {reason}",
                details=_tail(log),
                hint=f"see {log}",
            )
        state = read_state(options.state_path)
        if state is not None and state.pid == process.pid:
            return state
        time.sleep(0.05)
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    raise MailflowError(
        f"the local emulator did not become ready within {timeout:.0f} s",
        details=_tail(log),
        hint=f"see {log}",
    )


def stop(home: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> EmulatorState | None:
    """SIGTERM the emulator and wait for it to exit; SIGKILL if it does not. None when none was running."""
    current = status(home)
    state_path = home / "state.json"
    if current.state is None:
        return None
    if current.stale:
        state_path.unlink(missing_ok=True)
        return None
    pid = current.state.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_running(pid):
        time.sleep(0.05)
    if process_running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        is_zombie(pid)
    state_path.unlink(missing_ok=True)
    return current.state


def shell_exports(state: EmulatorState) -> str:
    """The variables that point an AWS tool at the emulator, with this start's access key."""
    return (
        f"export AWS_ENDPOINT_URL={state.endpoint} AWS_ACCESS_KEY_ID={state.access_key} "
        f"AWS_SECRET_ACCESS_KEY={state.secret_key} AWS_DEFAULT_REGION={state.region}"
    )
