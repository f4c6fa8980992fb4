"""Benchmark 5: ``mailflow --help`` wall time in a fresh process (the installed console script), median of 10.

Measured with bytecode cached (what ``pip install`` gives: it compiles ``.pyc`` files) and without it (an
editable install under ``PYTHONDONTWRITEBYTECODE=1``). An empty interpreter is the baseline, and the
heaviest top-level imports (``-X importtime``) name the cause when the target is missed. Target <= 0.3 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Target, finish, print_table, spread

REPEATS = 10
LIMIT_S = 0.3
MAILFLOW = Path(sys.executable).with_name("mailflow")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def env_for(pycache: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", COLUMNS="100")
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def heaviest_imports(env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; from mailflow_cli.__main__ import main; main()",
            "--help",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match and len(match[3]) <= 3:  # top-level imports and their direct children
            found.append((("  " * (len(match[3]) - 1)) + match[4], int(match[2]) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


def main() -> None:
    if not MAILFLOW.exists():
        raise SystemExit(f"{MAILFLOW} not found: run `make install` first")
    rows: dict[str, Any] = {}
    table: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="mailflow-pycache-") as pycache:
        modes = {"bytecode cached (installed)": pycache, "no bytecode (editable, no .pyc)": None}
        for mode, prefix in modes.items():
            env = env_for(prefix)
            for label, command in (
                ("python -c pass", [sys.executable, "-c", "pass"]),
                ("mailflow --help", [str(MAILFLOW), "--help"]),
            ):
                wall(command, env)  # warm the page cache and the .pyc cache
                samples = spread([wall(command, env) for _ in range(REPEATS)])
                rows[f"{label} [{mode}]"] = samples
                table.append([label, mode, samples.fmt(" s")])
        heavy = heaviest_imports(env_for(pycache))
    print_table(f"CLI start-up: fresh process, {REPEATS} runs each", ["command", "mode", "wall"], table)
    print_table("heaviest imports of `mailflow --help` (cumulative ms)", ["module", "ms"], heavy)
    rows["heaviest_imports_ms"] = dict(heavy)
    figure = rows["mailflow --help [bytecode cached (installed)]"]
    finish(
        "cli_startup",
        rows,
        [Target("mailflow --help, bytecode cached (median)", figure.median, LIMIT_S, "s")],
        notes=["the machine is shared with other work: compare the spread, and python -c pass, across runs"],
    )


if __name__ == "__main__":
    main()
