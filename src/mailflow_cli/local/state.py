"""The running emulator's state file: how every other command finds it, and its key, with ``--local``.

The emulator makes a new access key at every start and refuses requests signed with any other
(:mod:`mailflow_cli.local.guard`). The state file is the only place the key is written: mode 0600 in a
0700 directory, so other users of the machine cannot read it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from mailflow_cli.errors import MailflowError
from mailflow_cli.local.private_files import private_dir, replace_private

ACCESS_KEY_PREFIX = "MFLOCAL"


def state_dir() -> Path:
    base = os.environ.get("MAILFLOW_HOME")
    return Path(base) if base else Path.home() / ".mailflow"


def state_file() -> Path:
    return state_dir() / "local" / "state.json"


@dataclass(frozen=True)
class Credentials:
    """The emulator's access key (checked on every request) and its secret (SDKs need one to sign)."""

    access_key: str
    secret_key: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            access_key=ACCESS_KEY_PREFIX + base64.b32encode(secrets.token_bytes(15)).decode("ascii"),
            secret_key=secrets.token_urlsafe(30),
        )


@dataclass(frozen=True)
class EmulatorState:
    pid: int
    endpoint: str
    smtp_host: str
    smtp_port: int
    region: str
    started_at: float
    access_key: str
    secret_key: str
    ui_port: int | None = None
    """The web inbox's port; None when it is off (``--ui-port 0``)."""
    ui_token: str | None = None
    """Signs a browser in to the web inbox (:mod:`mailflow_cli.local.ui.session`); new at every start."""

    @property
    def ui_url(self) -> str | None:
        """The link that opens the web inbox and signs the browser in."""
        if self.ui_port is None or self.ui_token is None:
            return None
        return f"http://{self.smtp_host}:{self.ui_port}/?token={self.ui_token}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(access_key=self.access_key, secret_key=self.secret_key)

    def save(self, path: Path | None = None) -> None:
        target = path or state_file()
        private_dir(target.parent)
        replace_private(target, json.dumps(asdict(self), indent=2).encode("utf-8"))


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
