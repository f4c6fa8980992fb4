"""Benchmark 8: monthly cost at 10 K, 100 K and 1 M emails from measured usage, beside the seed guide's
table, and the fixed cost before and after issue 11 (target: mailflow.yaml.example at 10 K received
emails, at most 3.50 USD a month).

Usage comes from this run's results: benchmark 1 (mean CPU per inbound email), benchmark 3 (calls per
email); outbound CPU is measured here (the outbound pipeline with in-memory fakes). Prices are those of
``mailflow_cli.cost`` (us-east-1 list prices, as the seed guide's table is). The stack's shape is
mailflow.yaml.example (2 apps, 512 MB arm64), as ``mailflow cost`` derives it from the config. Lambda
duration = measured CPU scaled to the 512 MB vCPU share plus waiting on AWS calls (see ``Workload``).

"Before" is the stack as it was until issue 11, priced by the same model: the handler's 16 EMF metrics
always on, one alarm per app, per DLQ, for errors and for throttles (7 for the example), one event source
mapping, no feedback events.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import replace
from typing import Any

from _common import EXAMPLE_CONFIG, RESULTS, Target, finish, print_table, spread, use_project_paths
from _fakes import FakeDynamoDB, FakeS3, FakeSES, FakeSQS, fresh_id, runtime_document

VOLUMES = (10_000, 100_000, 1_000_000)
TARGET_10K_USD = 3.50
PREVIOUS_EMF_METRICS = 16
# The seed guide's "Cost Estimation" (the seed user guide, 000_c198143adbc15252.txt): 10 K emails by service,
# and its "Cost Scaling" totals.
SEED_10K = {"Lambda": 0.10, "S3": 0.30, "SQS": 0.02, "DynamoDB": 1.25, "SES": 1.00, "CloudWatch": 0.50}
SEED_TOTALS = {1_000: 1.50, 10_000: 3.17, 100_000: 15.0, 1_000_000: 85.0}
SEED_LAMBDA_ASSUMPTION = "256 MB, 5 s avg per invocation"


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return dict(json.loads(path.read_text())) if path.exists() else None


def outbound_cpu_s(samples: int = 300) -> float:
    """Median CPU of one outbound email (validate, compose, send, status) with in-memory fakes."""
    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config
    from mailflow_handler.outbound.send import process_record

    deps = Deps(parse_config(runtime_document(["app1"])), FakeS3(), FakeSQS(), FakeSES(), FakeDynamoDB())
    body = {
        "version": "1.0",
        "source": "app1",
        "email": {
            "from": {"address": "_app1@example.com"},
            "to": [{"address": "someone@outside.example"}],
            "subject": "Your order",
            "body": {"text": "Thanks for your order.\n" * 20, "html": "<p>Thanks for your order.</p>" * 20},
        },
    }
    times: list[float] = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for _ in range(samples):
            record = {
                "messageId": fresh_id("sqs"),
                "body": json.dumps(body | {"correlationId": fresh_id("c")}),
            }
            started = time.process_time()
            process_record(record, deps)
            times.append(time.process_time() - started)
    return spread(times).median


def measured_workload() -> tuple[Any, list[str]]:
    from mailflow_cli.cost import Workload

    work = Workload()
    sources: list[str] = []
    inbound = load_result("inbound_throughput")
    if inbound is not None:
        work = replace(
            work,
            inbound_cpu_s=inbound["results"]["cpu_s_per_message_mean"],
            avg_email_bytes=int(inbound["results"]["bytes"] / inbound["results"]["messages"]),
        )
        sources.append("inbound CPU and mean size: bench/results/inbound_throughput.json")
    calls = load_result("api_calls")
    if calls is not None:
        means = calls["results"]["inbound_means"]
        outbound = calls["results"]["outbound"][0]
        work = replace(
            work,
            attachments=means["attachments"],
            inbound_s3_reads=means["raw_reads"],
            inbound_idempotency_writes=means["idempotency_writes"],
            outbound_idempotency_writes=outbound["idempotency_writes"],
            outbound_status_messages=outbound["status_messages"],
        )
        sources.append("calls per email: bench/results/api_calls.json")
    work = replace(work, outbound_cpu_s=outbound_cpu_s())
    sources.append("outbound CPU: measured here")
    return work, sources


def previous_stack(shape: Any, work: Any) -> tuple[Any, Any]:
    """The shape and workload of the stack before issue 11 (see the module docstring)."""
    before = replace(
        shape, alarm_metrics=shape.apps + 3 + 2, custom_metrics=PREVIOUS_EMF_METRICS, event_source_mappings=1
    )
    return before, replace(work, events_per_sent_email=0.0)


def by_service_rows(estimates: dict[str, Any], services: list[str]) -> list[list[str]]:
    rows = [
        [service] + [f"{e.by_service()[service]:.2f}" for e in estimates.values()] for service in services
    ]
    rows.append(["Total"] + [f"{e.total:.2f}" for e in estimates.values()])
    return rows


def main() -> None:
    use_project_paths()
    from mailflow_cli.commands.cost import shape_of
    from mailflow_cli.cost import US_EAST_1, estimate

    _, shape = shape_of(EXAMPLE_CONFIG)
    work, sources = measured_workload()
    inbound_only = replace(work, outbound_ratio=0.0)
    estimates = {n: estimate(n, US_EAST_1, shape, work) for n in VOLUMES}
    inbound_estimates = {n: estimate(n, US_EAST_1, shape, inbound_only) for n in VOLUMES}
    services = list(estimates[VOLUMES[0]].by_service())
    rows: list[list[str]] = []
    for service in services:
        rows.append(
            [service]
            + [f"{inbound_estimates[n].by_service()[service]:.2f}" for n in VOLUMES]
            + [f"{estimates[n].by_service()[service]:.2f}" for n in VOLUMES]
            + [f"{SEED_10K.get(service, 0.0):.2f}"]
        )
    rows.append(
        ["Total"]
        + [f"{inbound_estimates[n].total:.2f}" for n in VOLUMES]
        + [f"{estimates[n].total:.2f}" for n in VOLUMES]
        + [f"{sum(SEED_10K.values()):.2f}"]
    )
    rows.append(["Seed guide total"] + [f"{SEED_TOTALS[n]:.2f}" for n in VOLUMES] + ["", "", "", ""])
    print_table(
        "monthly USD, us-east-1 list prices, mailflow.yaml.example (2 apps, 512 MB arm64), no free tier",
        ["service", "10K in", "100K in", "1M in", "10K +reply", "100K +reply", "1M +reply", "seed 10K"],
        rows,
    )
    before_shape, before_work = previous_stack(shape, work)
    compared = {
        "before, 10K in": estimate(10_000, US_EAST_1, before_shape, replace(before_work, outbound_ratio=0.0)),
        "after, 10K in": inbound_estimates[10_000],
        "before, 10K +reply": estimate(10_000, US_EAST_1, before_shape, before_work),
        "after, 10K +reply": estimates[10_000],
    }
    print_table(
        "the fixed cost before and after issue 11: monthly USD at 10 K emails, us-east-1, no free tier",
        ["service", *compared],
        by_service_rows(compared, services),
    )
    lambda_line = next(line for line in estimates[VOLUMES[0]].lines if line.service == "Lambda")
    print(f"  Lambda usage: {lambda_line.usage}  (seed guide: {SEED_LAMBDA_ASSUMPTION})")
    for assumption in estimates[VOLUMES[0]].assumptions:
        print(f"  assumes: {assumption}")
    for source in sources:
        print(f"  measured: {source}")
    after_10k = inbound_estimates[10_000].total
    finish(
        "cost",
        {
            "workload": work.as_dict(),
            "shape": {
                "apps": shape.apps,
                "memory_mb": shape.memory_mb,
                "architecture": shape.architecture,
                "alarm_metrics": shape.alarm_metrics,
                "custom_metrics": shape.custom_metrics,
                "event_source_mappings": shape.event_source_mappings,
            },
            "inbound_only": {str(n): e.as_dict() for n, e in inbound_estimates.items()},
            "with_one_reply_per_email": {str(n): e.as_dict() for n, e in estimates.items()},
            "before_and_after_10k": {name: e.as_dict() for name, e in compared.items()},
            "seed_10k_by_service": SEED_10K,
            "seed_totals": {str(k): v for k, v in SEED_TOTALS.items()},
            "sources": sources,
        },
        [
            Target(
                "mailflow.yaml.example at 10 K received emails, a month",
                round(after_10k, 2),
                TARGET_10K_USD,
                "USD",
                note=f"was {compared['before, 10K in'].total:.2f} USD",
            )
        ],
        notes=["the seed guide's figures are shown for comparison only"],
    )


if __name__ == "__main__":
    main()
