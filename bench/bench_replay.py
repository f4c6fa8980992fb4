"""Benchmark 10: ``mailflow replay`` of 1,000 raw emails (real boto3 clients, moto in-process).

The stack's bucket holds 1,000 objects under ``raw/`` and the table their idempotency items in contract
C2's shape: each email went to the default queue before app2 existed, so the replay delivers every one
to app2. The CLI's real ``replay.plan`` (the dry run) and ``replay.deliver`` run against them; Lambda's
asynchronous Invoke is answered 202 by a botocore ``before-call`` hook (moto would try to run the
function in Docker), and every call is counted. Figures: emails per second (plan; plan and deliver), API
calls per email by operation, peak memory (tracemalloc) of the replay, and the ratio to an in-run
yardstick: the same ListObjectsV2 and BatchGetItem reads made directly, without planning.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from _common import Target, finish, print_table, spread, use_project_paths

EMAILS = 1_000
ROUNDS = 5
CONFIG = "environment: bench\nregion: eu-west-1\ndomains: [example.com]\napps: [app1, app2]\n"


def stored_record(ses_id: str) -> dict[str, Any]:
    passed = {"status": "PASS"}
    return {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {"timestamp": "2026-11-30T10:00:00.000Z", "source": "sender@outside.example",
                     "messageId": ses_id, "destination": ["_app2@example.com"],
                     "commonHeaders": {"messageId": f"<{ses_id}@x>"}},
            "receipt": {"timestamp": "2026-11-30T10:00:00.000Z", "recipients": ["_app2@example.com"],
                        "spamVerdict": passed, "virusVerdict": passed, "spfVerdict": passed,
                        "dkimVerdict": passed, "dmarcVerdict": passed,
                        "action": {"type": "Lambda", "invocationType": "Event"}},
        },
    }  # fmt: skip


def build_world(ctx: Any) -> None:
    names = ctx.names
    s3 = ctx.clients.client("s3")
    s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    dynamodb = ctx.clients.client("dynamodb")
    dynamodb.create_table(
        TableName=names.table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    expires = str(int(time.time()) + 86400)
    for index in range(EMAILS):
        ses_id = f"bench{index:05d}0000000000000000000000000000000"
        s3.put_object(Bucket=names.bucket, Key=f"raw/{ses_id}", Body=b"Subject: x\r\n\r\nhello\r\n")
        dynamodb.put_item(
            TableName=names.table,
            Item={
                "id": {"S": f"inbound#{ses_id}"},
                "status": {"S": "COMPLETED"},
                "expiration": {"N": expires},
                "data": {"S": json.dumps({"done": ["default"], "sqsMessageIds": {"default": "m"}})},
                "receipt": {"S": json.dumps(stored_record(ses_id))},
            },
        )


def answer_invoke(**_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse("http://lambda.local/", 202, {}, None), {"StatusCode": 202}


def yardstick(ctx: Any) -> None:
    """The reads the plan cannot do without, made directly."""
    s3, dynamodb, table = ctx.clients.client("s3"), ctx.clients.client("dynamodb"), ctx.names.table
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ctx.names.bucket, Prefix="raw/"):
        keys = [{"id": {"S": "inbound#" + obj["Key"][4:]}} for obj in page.get("Contents", [])]
        for first in range(0, len(keys), 100):
            dynamodb.batch_get_item(
                RequestItems={table: {"Keys": keys[first : first + 100], "ConsistentRead": True}}
            )


def main() -> None:
    use_project_paths()
    from moto import mock_aws

    from mailflow_cli.context import open_stack
    from mailflow_cli.operate import replay
    from mailflow_cli.operate.replay_plan import Router
    from mailflow_cli.operate.timing import SYSTEM_CLOCK
    from mailflow_cli.packaging import runtime_config

    calls: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as directory, mock_aws():
        path = Path(directory) / "mailflow.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        ctx = open_stack(path)
        ctx.clients.event_hooks.append(("before-call.*.*", lambda model, **_: calls.update([model.name])))
        ctx.clients.event_hooks.append(("before-call.lambda.Invoke", answer_invoke))
        build_world(ctx)
        router = Router(runtime_config(ctx.config, ctx.names))
        now = time.time() + 1
        window = replay.Window(now - 3600, now)
        plan_s, total_s, base_s = [], [], []

        def replay_once() -> tuple[float, float, Counter[str]]:
            calls.clear()
            started = time.perf_counter()
            shown = replay.plan(ctx, window, router, None, SYSTEM_CLOCK)
            planned = time.perf_counter() - started
            plan_calls = Counter(calls)
            delivery = replay.deliver(ctx, shown, router, None, SYSTEM_CLOCK)
            assert delivery.per_app == {"app2": EMAILS}, delivery
            return planned, time.perf_counter() - started, plan_calls

        replay_once()  # warm-up: imports, service models, the handler's modules
        for _ in range(ROUNDS):
            started = time.perf_counter()
            yardstick(ctx)
            base_s.append(time.perf_counter() - started)
            planned, total, plan_calls = replay_once()
            plan_s.append(planned)
            total_s.append(total)
        tracemalloc.start()  # a round of its own: tracing slows every allocation down
        replay_once()
        peaks = [tracemalloc.get_traced_memory()[1]]
        tracemalloc.stop()
    per_email = {name: count / EMAILS for name, count in sorted(calls.items()) if name != "GetCallerIdentity"}
    plan_rate = spread([EMAILS / s for s in plan_s])
    total_rate = spread([EMAILS / s for s in total_s])
    base = spread(base_s)
    peak = spread([p / 1e6 for p in peaks])
    ratio = spread(plan_s).median / base.median
    print_table(
        f"replay of {EMAILS:,} raw emails (moto in-process), {ROUNDS} rounds",
        ["measure", "median", "min", "max"],
        [
            ["plan (dry run), emails/s", plan_rate.median, plan_rate.min, plan_rate.max],
            ["plan + deliver, emails/s", total_rate.median, total_rate.min, total_rate.max],
            ["yardstick: the reads alone, s", base.median, base.min, base.max],
            ["peak traced memory, MB", peak.median, peak.min, peak.max],
        ],
    )
    print_table("API calls per email (plan + deliver)", ["operation", "calls/email"], list(per_email.items()))
    finish(
        "replay",
        {
            "emails": EMAILS,
            "plan_emails_per_s": plan_rate,
            "plan_and_deliver_emails_per_s": total_rate,
            "yardstick_reads_s": base,
            "plan_over_reads_ratio": ratio,
            "api_calls_per_email": per_email,
            "plan_api_calls": dict(plan_calls),
            "peak_traced_mb": peak,
        },
        [
            Target("replay API calls per email (plan + deliver)", sum(per_email.values()), 0.5, "calls"),
            Target("replay plan, wall / the reads alone", ratio, 2.0, "x"),
            Target("replay peak traced memory, 1,000 emails", peak.median, 64, "MB"),
        ],
        notes=[
            "moto in-process: its per-call cost dominates wall time; compare the ratio across machines",
            "Invoke answered 202 by a before-call hook; the handler's work is not part of this figure",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
