"""Benchmark 11: the handler's SES feedback path (issue 11.3): CPU per event and API calls per event.

Events are AWS's documented examples (tests/handler/ses_events/), tagged as a Mailflow send and
SNS-wrapped as the events queue receives them, each with its own SES message id. CPU: ``process_record``
with the in-memory fakes of ``_fakes.py`` on one pinned core, against a yardstick timed in the same run
(``json.loads`` of the notification and its Message plus one ``json.dumps``: the least any consumer does
per event). API calls: the real boto3 clients against moto in-process, a ``before-call`` hook counting.
Targets (issue 11): 1 idempotency write and 1 SQS send per event; nothing for a duplicate, an
unattributed or a malformed event beyond the one read a duplicate costs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import statistics
import time
from collections import Counter
from typing import Any

from _common import REPO, Target, finish, pin_one_core, print_table, spread, use_project_paths
from _fakes import ACCOUNT, REGION, TABLE, FakeDynamoDB, FakeS3, FakeSES, FakeSQS, fresh_id, runtime_document

EXAMPLES = REPO / "tests" / "handler" / "ses_events"
DOCUMENTED = ("bounce", "complaint", "delivery", "delivery_delay", "reject", "rendering_failure", "send")
EVENTS_QUEUE = "mailflow-bench-ses-events"
CONFIGURATION_SET = "mailflow-bench"
ROUNDS = 7
PER_ROUND = 300  # events per round: the documented examples in turn
IDEMPOTENCY_WRITES = ("dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem")


def document() -> dict[str, Any]:
    doc = runtime_document(["app1", "app2"])
    doc["queues"]["sesEvents"] = EVENTS_QUEUE
    doc["feedback"] = {"configurationSet": CONFIGURATION_SET, "sendEvents": True}
    return doc


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.json").read_text()))


def tagged(event: dict[str, Any], ses_id: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["mail"]["messageId"] = ses_id
    event["mail"]["sendingAccountId"] = ACCOUNT
    event["mail"]["tags"].update(
        {"ses:configuration-set": [CONFIGURATION_SET], "mailflow-app": ["app1"], "mailflow-cid": ["bench-1"]}
    )
    return event


def record(event: dict[str, Any] | str) -> dict[str, Any]:
    message = event if isinstance(event, str) else json.dumps(event)
    body = json.dumps({"Type": "Notification", "MessageId": fresh_id("sns"), "Message": message})
    return {
        "messageId": fresh_id("sqs"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{EVENTS_QUEUE}",
    }


def records(n: int) -> list[dict[str, Any]]:
    bases = [example(name) for name in DOCUMENTED]
    return [record(tagged(bases[i % len(bases)], fresh_id("ses"))) for i in range(n)]


def fake_deps() -> Any:
    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config

    return Deps(
        config=parse_config(document()),
        s3=FakeS3(),
        sqs=FakeSQS(),
        ses=FakeSES(),
        dynamodb=FakeDynamoDB(),
    )


def cpu_round(batch: list[dict[str, Any]]) -> tuple[float, Counter[str]]:
    from mailflow_handler.feedback.process import process_record

    deps = fake_deps()
    outcomes: Counter[str] = Counter()
    started = time.process_time()
    for item in batch:
        outcomes[process_record(item, deps).outcome] += 1
    return time.process_time() - started, outcomes


def yardstick_round(batch: list[dict[str, Any]]) -> float:
    started = time.process_time()
    for item in batch:
        envelope = json.loads(item["body"])
        json.dumps(json.loads(envelope["Message"]))
    return time.process_time() - started


def hostile_cpu() -> tuple[float, int]:
    """One bounce listing 10,000 recipients (1.2 MB of JSON: more than SNS even carries)."""
    from mailflow_handler.feedback.process import process_record

    event = tagged(example("bounce"), fresh_id("ses"))
    event["bounce"]["bouncedRecipients"] = [
        {"emailAddress": f"u{i}@example.net", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 unknown"}
        for i in range(10_000)
    ]
    item = record(event)
    deps = fake_deps()
    started = time.process_time()
    process_record(item, deps)
    elapsed = time.process_time() - started
    return elapsed, deps.sqs.bytes_sent


def count_calls() -> list[dict[str, Any]]:
    """API calls per event with the real clients against moto in-process."""
    import boto3
    from moto import mock_aws

    from mailflow_handler.addresses import container_key
    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config
    from mailflow_handler.feedback.process import process_record

    calls: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        sqs, ddb = session.client("sqs"), session.client("dynamodb")
        doc = document()
        for queue in [app["queue"] for app in doc["apps"].values()] + list(doc["queues"].values()):
            sqs.create_queue(QueueName=queue)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        deps = Deps(config=parse_config(doc), s3=None, sqs=sqs, ses=None, dynamodb=ddb)
        container_key(ddb, TABLE)  # once per container (and made once per table): set-up, not counted
        process_record(record(tagged(example("delivery"), fresh_id("ses"))), deps)  # queue URL, cached
        for client in (sqs, ddb):
            client.meta.events.register(
                "before-call.*.*",
                lambda model, **_: calls.update([f"{model.service_model.service_name}.{model.name}"]),
            )

        def measure(case: str, item: dict[str, Any]) -> None:
            calls.clear()
            outcome = process_record(item, deps).outcome
            rows.append(
                {
                    "case": case,
                    "outcome": outcome,
                    "idempotency_writes": sum(calls[op] for op in IDEMPOTENCY_WRITES),
                    "idempotency_reads": calls["dynamodb.GetItem"],
                    "sqs_sends": calls["sqs.SendMessage"],
                    "calls": dict(calls),
                }
            )

        for name in DOCUMENTED:
            item = record(tagged(example(name), fresh_id("ses")))
            measure(name, item)
            if name == "bounce":
                measure("bounce, SNS redelivery", item)
        measure("unattributed (AWS's example as it is)", record(example("complaint")))
        measure("malformed", {**record("{}"), "body": "{not json"})
    return rows


def main() -> None:
    use_project_paths()
    core = pin_one_core()
    import mailflow_handler.feedback.process  # noqa: F401  (import cost is benchmark 4's business)

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        _, outcomes = cpu_round(records(PER_ROUND))  # warm-up and census
        cpu: list[float] = []
        yard: list[float] = []
        for _ in range(ROUNDS):
            batch = records(PER_ROUND)
            cpu.append(cpu_round(batch)[0] / PER_ROUND)
            yard.append(yardstick_round(batch) / PER_ROUND)
        hostile_s, hostile_bytes = hostile_cpu()
        rows = count_calls()
    per_event, per_yard = spread(cpu), spread(yard)
    ratio = per_event.median / per_yard.median
    print_table(
        f"CPU per SES event ({PER_ROUND} events x {ROUNDS} rounds, core {core}, fakes)",
        ["measure", "median", "min", "max"],
        [
            ["handler, ms per event", per_event.median * 1e3, per_event.min * 1e3, per_event.max * 1e3],
            [
                "yardstick (json loads x2 + dumps), ms",
                per_yard.median * 1e3,
                per_yard.min * 1e3,
                per_yard.max * 1e3,
            ],
            ["handler / yardstick", ratio, "", ""],
            ["10,000-recipient bounce, ms (one run)", hostile_s * 1e3, "", ""],
            ["its message, bytes", hostile_bytes, "", ""],
        ],
    )
    print_table(
        "API calls per event (moto in-process; after the container's first event)",
        ["case", "outcome", "idempotency writes", "reads", "SQS sends", "all calls"],
        [
            [
                r["case"],
                r["outcome"],
                r["idempotency_writes"],
                r["idempotency_reads"],
                r["sqs_sends"],
                ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items())),
            ]
            for r in rows
        ],
    )
    delivered = [r for r in rows if r["outcome"] == "delivered to app queue"]
    others = [r for r in rows if r["outcome"] != "delivered to app queue"]
    targets = [
        Target(
            "feedback: idempotency writes per event (max)",
            max(r["idempotency_writes"] for r in delivered),
            1,
            "calls",
        ),
        Target("feedback: SQS sends per event (max)", max(r["sqs_sends"] for r in delivered), 1, "calls"),
        Target(
            "feedback: writes + sends for duplicate, unattributed, malformed events",
            sum(r["idempotency_writes"] + r["sqs_sends"] for r in others),
            0,
            "calls",
        ),
        Target(
            "feedback: documented event types delivered (of 7)", len(delivered), len(DOCUMENTED), "", True
        ),
        Target("feedback: 10,000-recipient bounce, message size", hostile_bytes, 262_144, "bytes"),
    ]
    finish(
        "feedback_events",
        {
            "events_per_round": PER_ROUND,
            "rounds": ROUNDS,
            "core": core,
            "cpu_s_per_event": per_event,
            "yardstick_cpu_s_per_event": per_yard,
            "handler_over_yardstick": ratio,
            "hostile_bounce_cpu_s": hostile_s,
            "hostile_bounce_message_bytes": hostile_bytes,
            "outcomes": dict(outcomes),
            "calls": rows,
            "mean_calls_per_delivered_event": statistics.mean(sum(r["calls"].values()) for r in delivered),
        },
        targets,
        notes=[
            "fakes at the boto3 boundary for CPU: botocore serialisation/signing/HTTP are not included",
            f"the handler costs {ratio:.1f}x the yardstick (two json.loads and one json.dumps per event)",
            "each delivered event: 1 GetItem (the done record, a read), 1 SendMessage, 1 PutItem",
        ],
    )


if __name__ == "__main__":
    main()
