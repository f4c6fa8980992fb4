"""Shared helpers for the benchmark scripts: paths, timing, median/spread, JSON results, tables.

Every benchmark script imports this module, measures repeatedly, and calls :func:`finish` with its rows
and its targets. Results go to ``bench/results/<name>.json`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
CORPUS = REPO / "tests" / "corpus"
HANDLER_DIR = REPO / "handler"
SRC_DIR = REPO / "src"
EXAMPLE_CONFIG = REPO / "mailflow.yaml.example"


def use_project_paths() -> None:
    """Make ``mailflow_handler`` importable (it is not installed as a package of its own)."""
    for path in (str(HANDLER_DIR), str(SRC_DIR)):
        if path not in sys.path:
            sys.path.insert(0, path)


def pin_one_core() -> int | None:
    """Pin this process to one CPU so a throughput figure means "one core". Returns the core."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    core = cores[-1]
    os.sched_setaffinity(0, {core})
    return core


@dataclass(frozen=True)
class Spread:
    """Median and spread of repeated measurements."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    def fmt(self, unit: str = "", digits: int = 3) -> str:
        return (
            f"{self.median:.{digits}f}{unit} "
            f"(min {self.min:.{digits}f}, max {self.max:.{digits}f}, n={self.n})"
        )


def spread(samples: Sequence[float]) -> Spread:
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Spread(
        median=statistics.median(ordered),
        min=ordered[0],
        max=ordered[-1],
        q1=q1,
        q3=q3,
        n=len(ordered),
    )


def repeat(
    fn: Callable[[], object], times: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Run ``fn`` ``times`` times and return each run's duration on ``clock``."""
    samples: list[float] = []
    for _ in range(times):
        started = clock()
        fn()
        samples.append(clock() - started)
    return samples


@contextmanager
def timed(clock: Callable[[], float] = time.perf_counter) -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed time."""
    box: list[float] = []
    started = clock()
    try:
        yield box
    finally:
        box.append(clock() - started)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


@dataclass
class Target:
    """One figure against its limit. ``higher_is_better`` flips the comparison (throughput)."""

    name: str
    value: float
    limit: float
    unit: str
    higher_is_better: bool = False
    note: str = ""
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "MISS"

    def describe_limit(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {fmt_num(self.limit)} {self.unit}".rstrip()


def fmt_num(value: float) -> str:
    if value == 0:
        return "0"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A rich table when rich is importable, else plain aligned text."""
    cells = [
        [
            c if isinstance(c, str) else fmt_num(float(c)) if isinstance(c, int | float) else str(c)
            for c in row
        ]
        for row in rows
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of the CLI
        widths = [max(len(str(x)) for x in col) for col in zip(columns, *cells, strict=False)]
        print(f"\n{title}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)))
        for row in cells:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
        return
    console = Console(width=160)
    console.print(f"\n[bold]{title}[/]")
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in cells:
        table.add_row(*row)
    console.print(table)


def finish(name: str, rows: dict[str, Any], targets: Sequence[Target], notes: Sequence[str] = ()) -> Path:
    """Print the targets, write ``bench/results/<name>.json`` and return its path."""
    if targets:
        print_table(
            f"{name}: targets",
            ["target", "figure", "limit", "verdict"],
            [
                [t.name, f"{fmt_num(t.value)} {t.unit}".rstrip(), t.describe_limit(), t.verdict]
                for t in targets
            ],
        )
    for note in notes:
        print(f"  note: {note}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "name": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "results": rows,
        "targets": [asdict(t) | {"verdict": t.verdict} for t in targets],
        "notes": list(notes),
    }
    path.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")
    print(f"  wrote {path.relative_to(REPO)}")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, Spread):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def corpus_messages() -> list[tuple[str, bytes]]:
    """Every message of the project's corpus (``tests/corpus``), sorted by path."""
    if not CORPUS.is_dir():
        raise SystemExit(f"corpus not found at {CORPUS}")
    found: list[tuple[str, bytes]] = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.name != "README.md":
            found.append((str(path.relative_to(CORPUS)), path.read_bytes()))
    return found
