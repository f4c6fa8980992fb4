"""`mailflow replay`: the raw mail of a window through the current routing, planned from the stored records.

The idempotency items are built in contract C2's shape (the trimmed SES record in `receipt`, the done
list in `data`). AWS behaviour relied on: ListObjectsV2 lists every key under the prefix (by key, with
LastModified), BatchGetItem may leave keys unprocessed (moto never does: the Stubber test does), and an
asynchronous Invoke (InvocationType Event) takes the payload and returns 202 (the handler's side of the
replay marker is the handler's own contract, see the module docstring of operate/replay.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from operate_helpers import Cli
from trace_data import fresh_id, remember, ses_record, store_raw

from mailflow_cli.context import StackContext
from mailflow_cli.operate import replay
from mailflow_cli.operate.replay_plan import DELIVER, Router
from mailflow_cli.operate.timing import FakeClock
from mailflow_cli.packaging import runtime_config

AwsCalls = list[tuple[str, dict[str, Any]]]


@pytest.fixture(autouse=True)
def now(clock: FakeClock) -> float:
    """Raw objects get moto's LastModified (the real time): the window is measured from it."""
    clock.time = time.time() + 1
    return clock.time


@pytest.fixture(autouse=True)
def empty_raw_prefix(stack: StackContext) -> Iterator[None]:
    yield
    s3 = stack.clients.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names.bucket, Prefix="raw/"):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=stack.names.bucket, Key=obj["Key"])


def email(stack: StackContext, *recipients: str, done: tuple[str, ...], status: str = "COMPLETED",
          receipt: bool = True, **verdicts: str) -> str:  # fmt: skip
    """A raw mail in raw/ and its idempotency item (with its stored record unless ``receipt=False``)."""
    ses_id = fresh_id()
    record = ses_record(ses_id, recipients=recipients, **verdicts)
    remember(stack, record if receipt else None, ses_id=ses_id, status=status, done=done)
    store_raw(stack, ses_id)
    return ses_id


def invocations(calls: AwsCalls) -> list[dict[str, Any]]:
    return [json.loads(params["Payload"]) for name, params in calls if name == "Invoke"]


def replay_json(cli: Cli, *args: str, code: int = 0) -> dict[str, Any]:
    result = cli("replay", "--since", "1h", "--json", *args)
    assert result.exit_code == code, result.stderr
    document: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{\n") :])  # moto may warn first
    return document


def test_the_dry_run_plans_every_email_and_changes_nothing(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    new_app = email(stack, "_app2@example.com", done=("default",))  # went to default before app2 existed
    tagged = email(stack, "_app1+invoices@example.com", "_app2@example.org", done=("app1",))
    current = email(stack, "_app1@example.com", done=("app1",))
    quarantined = email(stack, "_app2@example.com", done=("@quarantine",), virus="FAIL")
    refused = email(stack, "_app2@example.com", done=("default",), dmarc="FAIL")
    setup = len(aws_calls)
    document = replay_json(cli, "--dry-run")
    assert document["dryRun"] is True
    assert document["emails"] == 5
    assert document["counts"] == {"deliver": 2, "up to date": 1, "quarantined": 2, "cannot replay": 0}
    assert document["perApp"] == {"app2": 2}
    plan = {entry["sesMessageId"]: entry for entry in document["plan"]}
    assert plan[new_app] == {
        "sesMessageId": new_app,
        "category": "deliver",
        "targets": ["app2"],
        "delivered": ["default"],
    }
    assert plan[tagged]["targets"] == ["app2"]
    assert current not in plan  # up to date: counted, not listed
    assert plan[quarantined]["reason"] == "the handler quarantined it: it stays in quarantine"
    assert plan[refused]["reason"] == "the current policy would quarantine it (app2: dmarc_reject)"
    assert "delivered" not in document
    assert invocations(aws_calls) == []
    assert {name for name, _ in aws_calls[setup:]} == {"GetCallerIdentity", "ListObjectsV2", "BatchGetItem"}


def test_emails_without_a_trusted_record_cannot_be_replayed(stack: StackContext, cli: Cli) -> None:
    old = email(stack, "_app2@example.com", done=("default",), receipt=False)
    never = fresh_id()
    store_raw(stack, never)  # no item at all: the handler never took it
    document = replay_json(cli, "--dry-run", code=1)
    reasons = {entry["sesMessageId"]: entry["reason"] for entry in document["plan"]}
    assert reasons[old] == (
        f"no trusted record: the table item inbound#{old} holds no stored SES record "
        "(written by a handler older than this CLI)"
    )
    assert reasons[never].startswith(
        f"no trusted record: no trusted record of this email: the table item inbound#{never}"
    )
    result = cli("replay", "--since", "1h", "--dry-run")
    assert result.exit_code == 1
    assert "cannot replay  2 email(s)" in result.stdout
    assert "2 email(s) could not be replayed" in result.stderr


def test_replay_invokes_the_handler_with_the_stored_records_and_the_targets(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    first = email(stack, "_app2@example.com", done=("default",))
    second = email(stack, "_app1@example.com", "_app2@example.com", done=(), status="PARTIAL")
    document = replay_json(cli, "--yes")
    assert document["delivered"] == {
        "invocations": 1,
        "emails": 2,
        "perApp": {"app1": 1, "app2": 2},
        "nothingLeft": [],
    }
    (event,) = invocations(aws_calls)
    assert [r["ses"]["mail"]["messageId"] for r in event["Records"]] == sorted([first, second])
    stored = event["Records"][0]
    recipients = tuple(stored["ses"]["receipt"]["recipients"])
    assert stored == ses_record(stored["ses"]["mail"]["messageId"], recipients=recipients)
    assert event["mailflowReplay"] == {"version": 1, "targets": {first: ["app2"], second: ["app1", "app2"]}}
    (invoke,) = [params for name, params in aws_calls if name == "Invoke"]
    assert (invoke["FunctionName"], invoke["InvocationType"]) == ("mailflow-dev-handler", "Event")


def test_app_limits_the_targets(stack: StackContext, cli: Cli, aws_calls: AwsCalls) -> None:
    ses_id = email(stack, "_app1@example.com", "_app2@example.com", done=(), status="PARTIAL")
    document = replay_json(cli, "--app", "APP2", "--yes")
    assert document["perApp"] == {"app2": 1}
    assert invocations(aws_calls)[0]["mailflowReplay"]["targets"] == {ses_id: ["app2"]}


def test_the_window_bounds_the_mail(stack: StackContext, cli: Cli) -> None:
    email(stack, "_app2@example.com", done=("default",))
    assert replay_json(cli, "--until", "30m", "--dry-run")["emails"] == 0
    assert replay_json(cli, "--dry-run")["emails"] == 1


def test_without_a_terminal_replay_needs_yes(stack: StackContext, cli: Cli, aws_calls: AwsCalls) -> None:
    email(stack, "_app2@example.com", done=("default",))
    result = cli("replay", "--since", "1h")
    assert result.exit_code == 2
    assert "replay would deliver 1 email(s) and needs confirmation; nothing was delivered" in result.stderr
    assert "deliver        1 email(s) (app2: 1)" in result.stdout
    assert invocations(aws_calls) == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--since", "2x"), "--since: '2x' is neither a duration nor a time"),
        (("--since", "1h", "--until", "2h"), "--since must be before --until"),
        (("--since", "1h", "--app", "billing"), "--app: 'billing' is not an app of the stack mailflow-dev"),
    ],
)
def test_bad_arguments_are_usage_errors(stack: StackContext, cli: Cli, args: tuple[str, ...], problem: str,
                                        aws_calls: AwsCalls) -> None:  # fmt: skip
    result = cli("replay", *args, "--dry-run")
    assert result.exit_code == 2
    assert problem in result.stderr
    assert not [name for name, _ in aws_calls if name != "GetCallerIdentity"]


def test_nothing_is_delivered_beyond_what_was_shown(
    stack: StackContext, clock: FakeClock, aws_calls: AwsCalls
) -> None:
    """Between the plan and the invocation another replay delivered the email: it is not sent again."""
    done_meanwhile = email(stack, "_app2@example.com", done=("default",))
    still_due = email(stack, "_app1@example.com", "_app2@example.com", done=(), status="PARTIAL")
    router = Router(runtime_config(stack.config, stack.names))
    window = replay.Window(clock.time - 3600, clock.time)
    shown = replay.plan(stack, window, router, "app1", clock.as_clock())  # shown: app1 only
    assert [(e.ses_id, e.targets) for e in shown.emails if e.category == DELIVER] == [(still_due, ("app1",))]
    remember(stack, ses_record(done_meanwhile, recipients=("_app2@example.com",)), done=("default", "app2"))
    delivery = replay.deliver(
        stack, shown, Router(runtime_config(stack.config, stack.names)), None, clock.as_clock()
    )
    (event,) = invocations(aws_calls)
    assert event["mailflowReplay"]["targets"] == {still_due: ["app1"]}  # not app2: the plan did not show it
    assert delivery.per_app == {"app1": 1}


def test_payloads_stay_under_the_asynchronous_limit() -> None:
    def big(index: int) -> dict[str, Any]:
        recipients = tuple(f"_app{index % 2 + 1}+{'x' * 60}{n}@example.com" for n in range(900))
        return ses_record(f"ses-{index:03d}", recipients=recipients)

    ready = [(big(index), ["app1"]) for index in range(12)]
    payloads = list(replay._payloads(ready))
    assert all(len(payload) <= replay.MAX_INVOKE_BYTES for payload in payloads)
    assert len(payloads) > 1
    events = [json.loads(payload) for payload in payloads]
    assert [r["ses"]["mail"]["messageId"] for e in events for r in e["Records"]] == [
        f"ses-{i:03d}" for i in range(12)
    ]
    assert all(
        set(e["mailflowReplay"]["targets"]) == {r["ses"]["mail"]["messageId"] for r in e["Records"]}
        for e in events
    )
    small = [(ses_record(f"s{index}"), ["app1"]) for index in range(60)]
    assert [len(json.loads(p)["Records"]) for p in replay._payloads(small)] == [25, 25, 10]


def test_unprocessed_keys_are_asked_for_again(stack: StackContext, clock: FakeClock) -> None:
    from botocore.stub import Stubber

    table = stack.names.table
    item = {"id": {"S": "inbound#a"}, "status": {"S": "COMPLETED"}}
    other = {"id": {"S": "inbound#b"}, "status": {"S": "COMPLETED"}}
    dynamodb = stack.clients.client("dynamodb")
    with Stubber(dynamodb) as stubber:
        stubber.add_response(
            "batch_get_item",
            {
                "Responses": {table: [item]},
                "UnprocessedKeys": {table: {"Keys": [{"id": {"S": "inbound#b"}}], "ConsistentRead": True}},
            },
        )
        stubber.add_response(
            "batch_get_item",
            {"Responses": {table: [other]}, "UnprocessedKeys": {}},
            {"RequestItems": {table: {"Keys": [{"id": {"S": "inbound#b"}}], "ConsistentRead": True}}},
        )
        found = replay.items_of(stack, ["a", "b"], clock.as_clock())
    assert found == {"a": item, "b": other}
    assert clock.slept == [0.05]
