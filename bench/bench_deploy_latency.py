"""Benchmark 7: a fresh deploy with 50 ms added to every AWS call (a botocore ``before-send`` hook).

The hook sleeps before every HTTP attempt, so the sum of the added latencies is ``attempts x 50 ms``.
Target: the deploy's wall time <= one third of that sum, which only concurrency across independent
resources can give. The ratio (wall / summed latency) is taken within each run; median of the runs.
"""

from __future__ import annotations

import time
from typing import Any

from _common import EXAMPLE_CONFIG, Target, finish, print_table, spread, use_project_paths
from _moto_server import CallCounter, Latency, moto_server, open_context, reset

LATENCY_S = 0.050
REPEATS = 3
LIMIT_RATIO = 1 / 3


def one_run(endpoint: str) -> dict[str, Any]:
    from mailflow_cli.deploy import deploy_stack

    reset(endpoint)
    latency = Latency(LATENCY_S)
    counter = CallCounter()
    ctx = open_context(EXAMPLE_CONFIG, [("before-call.*.*", counter), ("before-send.*.*", latency)])
    started = time.perf_counter()
    deploy_stack(ctx)
    wall = time.perf_counter() - started
    added = latency.sends * LATENCY_S
    return {
        "wall_s": wall,
        "calls": counter.total,
        "http_attempts": latency.sends,
        "summed_latency_s": added,
        "ratio": wall / added,
        "effective_parallelism": added / wall,
    }


def main() -> None:
    use_project_paths()
    with moto_server() as endpoint:
        from mailflow_cli.deploy import deploy_stack

        deploy_stack(open_context(EXAMPLE_CONFIG, []))  # warm-up: moto loads each service's backend
        runs = [one_run(endpoint) for _ in range(REPEATS)]
    ratio = spread([r["ratio"] for r in runs])
    print_table(
        f"fresh deploy of mailflow.yaml.example with {LATENCY_S * 1000:.0f} ms per AWS call ({REPEATS} runs)",
        ["run", "wall s", "calls", "HTTP attempts", "summed latency s", "wall / latency", "parallelism"],
        [
            [
                i + 1,
                f"{r['wall_s']:.2f}",
                r["calls"],
                r["http_attempts"],
                f"{r['summed_latency_s']:.2f}",
                f"{r['ratio']:.3f}",
                f"{r['effective_parallelism']:.1f}x",
            ]
            for i, r in enumerate(runs)
        ],
    )
    finish(
        "deploy_latency",
        {"latency_s": LATENCY_S, "runs": runs, "ratio": ratio},
        [Target("wall / summed added latency (median)", ratio.median, LIMIT_RATIO, "")],
        notes=["the ratio includes moto's own time, which the 50 ms sleeps are added to"],
    )


if __name__ == "__main__":
    main()
