"""Benchmark 3: AWS API calls per email, by category, with the real boto3 clients against moto in-process.

Inbound goes through ``handle_record`` (the Lambda path: the raw MIME is read from S3); outbound through
``outbound.send.process_record``. A ``before-call.*.*`` botocore hook counts every call; set-up calls
are not counted. Maxima (issue 6): inbound <= 1 S3 read of the raw mail, <= 1 idempotency write,
<= 1 SQS send per target app, <= 1 S3 write per attachment and target app (plus a claim check per
target), <= 1 tagging call per email on first delivery (contract C1: PutObjectTagging of the raw mail);
outbound <= 1 idempotency write, <= 1 SES send, <= 1 status message, <= 1 S3 read per attachment. The
address hash key of the log lines (one GetItem per container; one PutItem per table, ever) is read in
the set-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections import Counter
from typing import Any

from _common import Target, corpus_messages, finish, print_table, use_project_paths
from _fakes import ACCOUNT, BUCKET, DOMAIN, REGION, TABLE, fresh_id, runtime_document, ses_record

SAMPLE_EVERY = 10  # every 10th corpus message (39 of 390): moto costs ~3 ms per call
IDEMPOTENCY_OPS = ("dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem")


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


def make_world(counter: CallCounter) -> Any:
    import boto3

    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config

    doc = runtime_document(["app1", "app2"])
    session = boto3.session.Session(region_name=REGION)
    clients: dict[str, Any] = {
        name: session.client(name) for name in ("s3", "sqs", "sesv2", "dynamodb", "ses")
    }
    clients["s3"].create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    queues = [app["queue"] for app in doc["apps"].values()] + list(doc["queues"].values())
    for queue in queues:
        clients["sqs"].create_queue(QueueName=queue)
    clients["dynamodb"].create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients["ses"].verify_domain_identity(Domain=DOMAIN)
    from mailflow_handler.addresses import container_key

    # The log lines' address hash key: made once per table and read once per container (contract L).
    container_key(clients["dynamodb"], TABLE)
    for name in ("s3", "sqs", "sesv2", "dynamodb"):
        clients[name].meta.events.register("before-call.*.*", counter)
    return Deps(
        config=parse_config(doc),
        s3=clients["s3"],
        sqs=clients["sqs"],
        ses=clients["sesv2"],
        dynamodb=clients["dynamodb"],
    ), clients["s3"]


def inbound_rows(deps: Any, s3: Any, counter: CallCounter) -> list[dict[str, Any]]:
    from mailflow_handler.inbound.pipeline import handle_record

    cases: list[tuple[str, bytes, list[str]]] = [
        (name, raw, ["_app1@example.com"]) for name, raw in corpus_messages()[::SAMPLE_EVERY]
    ]
    first = cases[0]
    cases.append((f"{first[0]} (2 apps)", first[1], ["_app1@example.com", "_app2@example.com"]))
    rows: list[dict[str, Any]] = []
    for name, raw, recipients in cases:
        ses_id = fresh_id("calls")
        s3.put_object(Bucket=BUCKET, Key=f"raw/{ses_id}", Body=raw)
        counter.take()
        result = handle_record(ses_record(ses_id, recipients), deps)
        calls = counter.take()
        rows.append(
            {
                "message": name,
                "targets": len(result.delivered),
                "attachments": result.attachments,
                "claim_check": result.claim_check,
                "outcome": result.reason or result.outcome,
                "raw_reads": calls["s3.GetObject"],
                "idempotency_writes": sum(calls[op] for op in IDEMPOTENCY_OPS),
                "sqs_sends": calls["sqs.SendMessage"],
                "s3_writes": calls["s3.PutObject"],
                "tagging_calls": calls["s3.PutObjectTagging"] + calls["s3.GetObjectTagging"],
                "calls": dict(calls),
            }
        )
    return rows


def outbound_request(correlation: str, attachments: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "correlationId": correlation,
        "source": "app1",
        "email": {
            "from": {"address": f"_app1@{DOMAIN}", "name": "App One"},
            "to": [{"address": "someone@outside.example"}],
            "subject": "Your report",
            "body": {"text": "Hello,\nthe report is attached.\n", "html": "<p>Hello</p>"},
            "attachments": attachments,
        },
    }


def outbound_rows(deps: Any, s3: Any, counter: CallCounter) -> list[dict[str, Any]]:
    from mailflow_handler.outbound.send import process_record

    rows: list[dict[str, Any]] = []
    for n_attachments in (0, 1, 3):
        refs = []
        for i in range(n_attachments):
            key = f"outbound/app1/{fresh_id('att')}.pdf"  # apps attach from outbound/<app>/
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"%PDF-1.4 bench " * 200)
            refs.append(
                {"bucket": BUCKET, "key": key, "filename": f"r{i}.pdf", "contentType": "application/pdf"}
            )
        record = {
            "messageId": fresh_id("sqs"),
            "body": json.dumps(outbound_request(fresh_id("corr"), refs)),
            "attributes": {"ApproximateReceiveCount": "1"},
        }
        counter.take()
        result = process_record(record, deps)
        calls = counter.take()
        rows.append(
            {
                "case": f"{n_attachments} attachment(s)",
                "attachments": n_attachments,
                "status": result.status,
                "reason": result.reason,
                "idempotency_writes": sum(calls[op] for op in IDEMPOTENCY_OPS),
                "ses_sends": calls["sesv2.SendEmail"],
                "status_messages": calls["sqs.SendMessage"],
                "s3_reads": calls["s3.GetObject"],
                "calls": dict(calls),
            }
        )
    return rows


def main() -> None:
    use_project_paths()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "MOTO_ACCOUNT_ID": ACCOUNT,
        }
    )
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    from moto import mock_aws

    counter = CallCounter()
    with mock_aws(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        deps, s3 = make_world(counter)
        inbound = inbound_rows(deps, s3, counter)
        outbound = outbound_rows(deps, s3, counter)

    def worst(rows: list[dict[str, Any]], key: str, per: str | None = None) -> float:
        return float(max(r[key] / max(1, r[per]) if per else r[key] for r in rows))

    delivered = [r for r in inbound if r["outcome"] == "delivered"]
    s3_extra = [r["s3_writes"] - (r["attachments"] + int(r["claim_check"])) * r["targets"] for r in delivered]
    print_table(
        f"inbound calls per email (moto in-process, {len(inbound)} emails)",
        ["category", "mean", "max", "stated maximum"],
        [
            ["S3 reads of the raw mail", _mean(delivered, "raw_reads"), worst(delivered, "raw_reads"), "1"],
            [
                "idempotency writes (per email)",
                _mean(delivered, "idempotency_writes"),
                worst(delivered, "idempotency_writes"),
                "1",
            ],
            [
                "SQS sends per target app",
                _mean(delivered, "sqs_sends", "targets"),
                worst(delivered, "sqs_sends", "targets"),
                "1",
            ],
            [
                "raw-mail tagging calls (first delivery)",
                _mean(delivered, "tagging_calls"),
                worst(delivered, "tagging_calls"),
                "1",
            ],
            [
                "S3 writes beyond one per attachment and target (+claim check per target)",
                statistics.mean(s3_extra),
                max(s3_extra),
                "0",
            ],
            ["attachments per email", _mean(delivered, "attachments"), worst(delivered, "attachments"), "-"],
        ],
    )
    two_apps = inbound[-1]
    print(f"  2-app email: {two_apps['calls']}")
    print_table(
        "outbound calls per email",
        ["case", "status", "idempotency writes", "SES sends", "status messages", "S3 reads", "all calls"],
        [
            [
                r["case"],
                r["status"],
                r["idempotency_writes"],
                r["ses_sends"],
                r["status_messages"],
                r["s3_reads"],
                ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items())),
            ]
            for r in outbound
        ],
    )
    targets = [
        Target("inbound: S3 reads of raw mail (max per email)", worst(delivered, "raw_reads"), 1, "calls"),
        Target(
            "inbound: idempotency writes (max per email)", worst(delivered, "idempotency_writes"), 1, "calls"
        ),
        Target(
            "inbound: SQS sends per target app (max)", worst(delivered, "sqs_sends", "targets"), 1, "calls"
        ),
        Target("inbound: S3 writes beyond attachments+claim per target (max)", max(s3_extra), 0, "calls"),
        Target(
            "inbound: raw-mail tagging calls, first delivery (max)",
            worst(delivered, "tagging_calls"),
            1,
            "calls",
        ),
        Target("outbound: idempotency writes (max)", worst(outbound, "idempotency_writes"), 1, "calls"),
        Target("outbound: SES sends (max)", worst(outbound, "ses_sends"), 1, "calls"),
        Target("outbound: status messages (max)", worst(outbound, "status_messages"), 1, "calls"),
        Target(
            "outbound: S3 reads per attachment (max)", worst(outbound, "s3_reads", "attachments"), 1, "calls"
        ),
        Target(
            "outbound: requests not sent (the counts above only mean something for sent mail)",
            sum(1 for r in outbound if r["status"] != "sent"),
            0,
            "",
        ),
    ]
    finish(
        "api_calls",
        {
            "inbound": inbound,
            "outbound": outbound,
            "inbound_means": {
                key: _mean(delivered, key)
                for key in (
                    "raw_reads",
                    "idempotency_writes",
                    "sqs_sends",
                    "s3_writes",
                    "tagging_calls",
                    "attachments",
                )
            },
        },
        targets,
        notes=[
            "sqs.GetQueueUrl is made once per queue per container (cached): it shows on the first email only",
            "an idempotency write is a DynamoDB PutItem, UpdateItem or DeleteItem on the idempotency table",
        ],
    )


def _mean(rows: list[dict[str, Any]], key: str, per: str | None = None) -> float:
    return float(statistics.mean(r[key] / max(1, r[per]) if per else r[key] for r in rows))


if __name__ == "__main__":
    main()
