"""Shell completion is typer's (`mailflow --install-completion` / `--show-completion`), run as users run it:
a fresh `mailflow` process. The shell is named explicitly, so nothing depends on detecting it."""

from __future__ import annotations

import os
import subprocess
import sys


def mailflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=60,
    )


def test_show_completion_prints_the_bash_script_for_mailflow() -> None:
    done = mailflow("--show-completion", "bash")
    assert done.returncode == 0, done.stderr
    assert "complete -o default -F _mailflow_completion mailflow" in done.stdout
    assert "_MAILFLOW_COMPLETE=complete_bash" in done.stdout


def test_the_script_completes_commands_and_options() -> None:
    """What the installed script asks: mailflow with COMP_WORDS/COMP_CWORD and _MAILFLOW_COMPLETE set."""
    words = mailflow(COMP_WORDS="mailflow dlq re", COMP_CWORD="2", _MAILFLOW_COMPLETE="complete_bash")
    assert words.returncode == 0, words.stderr
    assert words.stdout.split() == ["redrive"]
    options = mailflow(COMP_WORDS="mailflow init --f", COMP_CWORD="2", _MAILFLOW_COMPLETE="complete_bash")
    assert options.stdout.split() == ["--force"]


def test_help_lists_the_completion_options() -> None:
    done = mailflow("--help", COLUMNS="120")
    assert "--install-completion" in done.stdout
    assert "--show-completion" in done.stdout
