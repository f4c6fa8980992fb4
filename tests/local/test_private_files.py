"""The emulator's files are private to this user whatever the umask (security review finding 16)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow_cli.local.outbox import OutboxStore
from mailflow_cli.local.private_files import append_private, make_private, private_dir, replace_private
from mailflow_cli.local.sent_mail import SentMail
from mailflow_cli.local.state import Credentials, EmulatorState
from mailflow_cli.local.tls import self_signed_context


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directories_files_and_appends_are_private(tmp_path: Path) -> None:
    home = private_dir(tmp_path / "a" / "b")
    assert [mode(tmp_path / "a"), mode(home)] == [0o700, 0o700]
    replace_private(home / "state.json", b"{}")
    with append_private(home / "emulator.log") as log:
        log.write(b"line\n")
    with append_private(home / "emulator.log") as log:
        log.write(b"line\n")
    assert (home / "emulator.log").read_bytes() == b"line\nline\n"
    assert [mode(home / "state.json"), mode(home / "emulator.log")] == [0o600, 0o600]
    assert not (home / "state.json.tmp").exists()


def test_an_existing_tree_is_made_private(tmp_path: Path) -> None:
    home = tmp_path / "local"
    (home / "outbox").mkdir(parents=True, mode=0o755)
    (home / "outbox" / "1.eml").write_bytes(b"x")
    (home / "emulator.log").write_bytes(b"x")
    os.chmod(home / "outbox" / "1.eml", 0o644)
    os.chmod(home, 0o755)
    make_private(home)
    assert {path.name: mode(path) for path in [home, *home.rglob("*")]} == {
        "local": 0o700,
        "outbox": 0o700,
        "1.eml": 0o600,
        "emulator.log": 0o600,
    }


def test_state_outbox_and_tls_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "local"
    credentials = Credentials.generate()
    EmulatorState(
        1, "http://127.0.0.1:1", "127.0.0.1", 2, "eu-west-1", 0.0, *vars(credentials).values()
    ).save(home / "state.json")
    OutboxStore(home / "outbox").add(
        SentMail("a@x.org", ("b@y.org",), b"Subject: s\r\n\r\nhi\r\n", "id"), {"b@y.org": "delivered"}
    )
    self_signed_context(home / "tls")
    found = {str(path.relative_to(home)): mode(path) for path in home.rglob("*")}
    assert found == {
        "state.json": 0o600,
        "outbox": 0o700,
        "outbox/1.eml": 0o600,
        "outbox/1.json": 0o600,
        "tls": 0o700,
        "tls/smtp-cert.pem": 0o600,
        "tls/smtp-key.pem": 0o600,
    }
    assert mode(home) == 0o700


def test_every_start_makes_a_new_key() -> None:
    keys = {Credentials.generate().access_key for _ in range(20)}
    assert len(keys) == 20
    assert all(key.startswith("MFLOCAL") and len(key) == 31 and key.isalnum() for key in keys)
