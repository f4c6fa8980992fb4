"""Run every benchmark (one script each, in a fresh process, in order) and summarise the targets.

``make bench`` runs this. Results: ``bench/results/<name>.json`` per benchmark, plus ``summary.json`` and
``summary.md`` (the targets table that docs/benchmarks.md records). Pass script names to run a subset,
e.g. ``python bench/run_all.py bench_cost``. Exit status 0 even when a target is missed: the summary
says which, and why is in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from _common import BENCH, RESULTS, machine, print_table

SCRIPTS = (
    ("bench_inbound_throughput", "inbound_throughput"),
    ("bench_hostile_sizes", "hostile_sizes"),
    ("bench_api_calls", "api_calls"),
    ("bench_handler_package", "handler_package"),
    ("bench_cli_startup", "cli_startup"),
    ("bench_deploy", "deploy"),
    ("bench_deploy_latency", "deploy_latency"),
    ("bench_trace", "trace"),
    ("bench_replay", "replay"),
    ("bench_feedback_events", "feedback_events"),
    ("bench_cost", "cost"),  # after benchmarks 1 and 3: it reads their results
    ("bench_chaos", "chaos"),  # the longest: a private emulator, several minutes
)


def main() -> int:
    wanted = set(sys.argv[1:])
    durations: dict[str, float] = {}
    failed: list[str] = []
    for script, _ in SCRIPTS:
        if wanted and script not in wanted:
            continue
        print(f"\n=== {script} ===", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(BENCH / f"{script}.py")], check=False)
        durations[script] = time.perf_counter() - started
        if done.returncode != 0:
            failed.append(script)
    targets: list[dict[str, Any]] = []
    for script, name in SCRIPTS:
        path = RESULTS / f"{name}.json"
        if (wanted and script not in wanted) or not path.exists():
            continue
        for target in json.loads(path.read_text())["targets"]:
            targets.append({"benchmark": name, **target})
    rows = [
        [
            t["benchmark"],
            t["name"],
            f"{_num(t['value'])} {t['unit']}".rstrip(),
            f"{'>=' if t['higher_is_better'] else '<='} {_num(t['limit'])} {t['unit']}".rstrip(),
            t["verdict"],
        ]
        for t in targets
    ]
    print_table("all targets", ["benchmark", "target", "figure", "limit", "verdict"], rows)
    print_table("run time per script", ["script", "s"], [[k, f"{v:.1f}"] for k, v in durations.items()])
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine(), "seconds": durations, "failed": failed, "targets": targets}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["| benchmark | target | figure | limit | verdict |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    (RESULTS / "summary.md").write_text("\n".join(lines) + "\n")
    missed = sum(t["verdict"] != "pass" for t in targets)
    print(f"\n{len(targets)} targets, {missed} missed; {sum(durations.values()):.0f} s in all")
    if failed:
        print(f"scripts that failed: {', '.join(failed)}")
        return 1
    return 0


def _num(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


if __name__ == "__main__":
    sys.exit(main())
