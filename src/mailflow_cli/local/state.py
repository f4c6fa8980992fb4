"""The running emulator's state file: how every other command finds it with ``--local``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mailflow_cli.errors import MailflowError

LOCAL_ACCESS_KEY = "mailflow-local"
LOCAL_SECRET_KEY = "mailflow-local"


def state_dir() -> Path:
    base = os.environ.get("MAILFLOW_HOME")
    return Path(base) if base else Path.home() / ".mailflow"


def state_file() -> Path:
    return state_dir() / "local" / "state.json"


@dataclass(frozen=True)
class EmulatorState:
    pid: int
    endpoint: str
    smtp_host: str
    smtp_port: int
    region: str
    started_at: float

    def save(self, path: Path | None = None) -> None:
        target = path or state_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(target)


def read_state(path: Path | None = None) -> EmulatorState | None:
    source = path or state_file()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        return EmulatorState(**data)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_state() -> EmulatorState:
    """The emulator that ``--local`` talks to, or a clear error saying how to start one."""
    state = read_state()
    if state is None or not pid_alive(state.pid):
        raise MailflowError(
            "the local emulator is not running",
            hint="start it with `mailflow local start` (or drop --local to talk to AWS)",
        )
    return state
