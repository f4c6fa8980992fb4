"""Benchmark 1: inbound pipeline throughput over every corpus message, on one core, with in-memory fakes.

Each message goes through ``mailflow_handler.inbound.pipeline.process`` (route, verdicts, idempotency,
parse, attachments to S3, build + serialise the per-app JSON, send to SQS, the log line); the boto3
clients are the fakes of ``_fakes.py``, so the figure is the handler's own CPU. Target: >= 1,000 msg/s.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from typing import Any

from _common import Target, corpus_messages, finish, pin_one_core, print_table, spread, use_project_paths
from _fakes import FakeDynamoDB, FakeS3, FakeSES, FakeSQS, fresh_id, runtime_document, ses_record

ROUNDS = 7
TARGET_MSG_PER_S = 1000.0
RECIPIENTS = ["_app1@example.com"]


def make_deps() -> Any:
    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config

    return Deps(
        config=parse_config(runtime_document(["app1", "app2"])),
        s3=FakeS3(),
        sqs=FakeSQS(),
        ses=FakeSES(),
        dynamodb=FakeDynamoDB(),
    )


def one_round(messages: list[tuple[str, bytes]], per_message: list[float] | None = None) -> Counter[str]:
    from mailflow_handler.inbound.pipeline import process

    deps = make_deps()
    outcomes: Counter[str] = Counter()
    for _, raw in messages:
        started = time.process_time()
        result = process(raw, ses_record(fresh_id(), RECIPIENTS), deps)
        if per_message is not None:
            per_message.append(time.process_time() - started)
        outcomes[result.reason or result.outcome] += 1
    return outcomes


def compat32_round(messages: list[tuple[str, bytes]]) -> float:
    """CPU seconds of a bare stdlib compat32 parse of the corpus: the in-run yardstick."""
    from email import message_from_bytes
    from email.policy import compat32

    started = time.process_time()
    for _, raw in messages:
        message_from_bytes(raw, policy=compat32)
    return time.process_time() - started


def main() -> None:
    use_project_paths()
    core = pin_one_core()
    import mailflow_handler.inbound.pipeline  # noqa: F401  (import cost is benchmark 4's business)

    messages = corpus_messages()
    total_bytes = sum(len(raw) for _, raw in messages)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        outcomes = one_round(messages)  # warm-up; also the outcome census
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(ROUNDS):
            w0, c0 = time.perf_counter(), time.process_time()
            one_round(messages)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        per_message: list[float] = []
        one_round(messages, per_message)
        baseline_cpu = [compat32_round(messages) for _ in range(ROUNDS)]

    n = len(messages)
    rate = spread([n / s for s in wall])
    cpu_rate = spread([n / s for s in cpu])
    per_msg = spread(per_message)
    p95 = sorted(per_message)[int(0.95 * (len(per_message) - 1))]
    baseline = spread([n / s for s in baseline_cpu])
    slowest = sorted(zip(per_message, (name for name, _ in messages), strict=True), reverse=True)[:5]
    print_table(
        f"inbound throughput: {n} corpus messages, {total_bytes / 1e6:.2f} MB, {ROUNDS} rounds, core {core}",
        ["measure", "median", "min", "max"],
        [
            ["messages/s (wall)", rate.median, rate.min, rate.max],
            ["messages/s (CPU)", cpu_rate.median, cpu_rate.min, cpu_rate.max],
            [
                "MB/s (wall)",
                total_bytes / 1e6 * rate.median / n,
                total_bytes / 1e6 * rate.min / n,
                total_bytes / 1e6 * rate.max / n,
            ],
            ["CPU ms per message", per_msg.median * 1e3, per_msg.min * 1e3, per_msg.max * 1e3],
            ["compat32 parse only, messages/s (CPU)", baseline.median, baseline.min, baseline.max],
        ],
    )
    print_table("slowest messages (CPU ms)", ["message", "ms"], [[name, t * 1e3] for t, name in slowest])
    print_table("outcomes per round", ["outcome", "messages"], sorted(outcomes.items()))
    finish(
        "inbound_throughput",
        {
            "messages": n,
            "bytes": total_bytes,
            "rounds": ROUNDS,
            "core": core,
            "messages_per_s_wall": rate,
            "messages_per_s_cpu": cpu_rate,
            "cpu_s_per_message": per_msg,
            "cpu_s_per_message_mean": sum(per_message) / n,
            "cpu_s_per_message_p95": p95,
            "slowest": [{"message": name, "cpu_s": t} for t, name in slowest],
            "outcomes": dict(outcomes),
            "compat32_parse_messages_per_s_cpu": baseline,
            "pipeline_over_compat32_cost_ratio": baseline.median / cpu_rate.median,
        },
        [
            Target(
                "inbound throughput, CPU time (median of rounds)",
                cpu_rate.median,
                TARGET_MSG_PER_S,
                "msg/s",
                True,
            ),
            Target(
                "inbound throughput, wall (median of rounds)", rate.median, TARGET_MSG_PER_S, "msg/s", True
            ),
        ],
        notes=[
            "fakes at the boto3 boundary: botocore serialisation/signing/HTTP are not included",
            "every message is routed to one app (_app1@example.com); log lines go to /dev/null",
            f"the pipeline costs {baseline.median / cpu_rate.median:.1f}x a bare compat32 parse in this run "
            "(the wall figure also counts other processes taking the pinned core on a shared machine)",
        ],
    )


if __name__ == "__main__":
    main()
