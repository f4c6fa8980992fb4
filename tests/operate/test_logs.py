from __future__ import annotations

import contextlib
import json
import time

import pytest
from operate_helpers import Cli

from mailflow_cli.context import StackContext
from mailflow_cli.operate.timing import FakeClock

GROUP = "/aws/lambda/mailflow-dev-handler"
STREAM = "2026/11/27/[$LATEST]abc"


@pytest.fixture
def now(clock: FakeClock) -> float:
    """moto refuses log events far from the present, so this clock starts at the real time."""
    clock.time = time.time()
    return clock.time


def write(ctx: StackContext, *events: tuple[float, str]) -> None:
    logs = ctx.clients.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=GROUP)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=STREAM,
        logEvents=[
            {"timestamp": int(at * 1000), "message": message}
            for at, message in sorted(events, key=lambda event: event[0])
        ],
    )


def record(level: str, message: str, **fields: object) -> str:
    base = {"level": level, "message": message, "timestamp": "x", "service": "mailflow", "cold_start": False}
    return json.dumps({**base, **fields})


EMF = json.dumps(
    {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "Mailflow", "Dimensions": [["service"]], "Metrics": [{"Name": "InboundRouted"}]}
            ],
        },
        "service": "mailflow",
        "InboundRouted": 2,
    }
)


def test_renders_structured_lines_and_summarises_metrics(stack: StackContext, cli: Cli, now: float) -> None:
    write(
        stack,
        (now - 120, "START RequestId: 1 Version: $LATEST"),
        (now - 119, record("INFO", "routed", app="app1", messageId="<m1@x>")),
        (now - 118, record("ERROR", "send failed", correlationId="c-9", error="MessageRejected")),
        (now - 117, EMF),
        (now - 116, "REPORT RequestId: 1 Duration: 12.3 ms"),
        (now - 3600, record("INFO", "too old to show")),
    )
    result = cli("logs")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert "INFO    routed  app=app1 messageId=<m1@x>" in lines[0]
    assert "ERROR   send failed  correlationId=c-9 error=MessageRejected" in lines[1]
    assert "metrics InboundRouted=2" in lines[2]
    assert "REPORT RequestId: 1" in lines[3]
    assert "START" not in result.stdout
    assert "too old" not in result.stdout


def test_since_and_filter_are_passed_on(stack: StackContext, cli: Cli, now: float) -> None:
    write(stack, (now - 3000, record("ERROR", "old failure")), (now - 10, record("INFO", "recent")))
    assert "old failure" in cli("logs", "--since", "1h").stdout
    filtered = cli("logs", "--since", "1h", "--filter", "ERROR")
    assert "old failure" in filtered.stdout
    assert "recent" not in filtered.stdout


def test_json_prints_the_raw_events(stack: StackContext, cli: Cli, now: float) -> None:
    write(stack, (now - 5, EMF), (now - 4, "plain text"))
    documents = [json.loads(line) for line in cli("logs", "--json").stdout.splitlines()]
    assert [d["message"] for d in documents] == [EMF, "plain text"]
    assert documents[0]["timestamp"] == int((now - 5) * 1000)


def test_no_log_group_yet_is_not_an_error(stack: StackContext, cli: Cli, now: float) -> None:
    stack.clients.client("logs").delete_log_group(logGroupName=GROUP)  # deploy creates it; here it is gone
    result = cli("logs")
    assert result.exit_code == 0
    assert "the log group /aws/lambda/mailflow-dev-handler does not exist" in result.stderr
    assert "Deploy creates it, so the stack mailflow-dev is not deployed here" in result.stderr


def test_an_empty_window_says_so(stack: StackContext, cli: Cli, now: float) -> None:
    write(stack, (now - 7200, "old"))
    result = cli("logs", "--since", "10m", "--filter", "ERROR")
    assert result.stdout == ""
    assert "No log events matching 'ERROR' in the last 10m." in result.stderr


def test_follow_prints_new_events_once(stack: StackContext, cli: Cli, now: float, clock: FakeClock) -> None:
    write(stack, (now - 1, record("INFO", "first")))

    def more_events_then_stop(sleeps: int) -> None:
        if sleeps == 1:
            write(stack, (clock.time, record("INFO", "second")))
        if sleeps == 3:
            raise KeyboardInterrupt

    clock.on_sleep = more_events_then_stop
    result = cli("logs", "--follow")
    assert result.exit_code == 0
    assert [line.split("INFO")[1].strip() for line in result.stdout.splitlines()] == ["first", "second"]
    assert clock.slept == [2.0, 2.0, 2.0]


def test_bad_since_is_a_usage_error(stack: StackContext, cli: Cli) -> None:
    result = cli("logs", "--since", "yesterday")
    assert result.exit_code == 2
    assert "--since: 'yesterday' is not a duration" in result.stderr


def test_follow_prints_an_event_that_arrives_after_newer_ones(
    stack: StackContext, cli: Cli, now: float, clock: FakeClock
) -> None:
    """CloudWatch may make an event searchable after newer ones (another stream, a late batch)."""
    write(stack, (now - 1, record("INFO", "first")))
    logs = stack.clients.client("logs")

    def late_event_then_stop(sleeps: int) -> None:
        if sleeps == 1:
            logs.create_log_stream(logGroupName=GROUP, logStreamName="late")
            logs.put_log_events(
                logGroupName=GROUP,
                logStreamName="late",
                logEvents=[{"timestamp": int((now - 30) * 1000), "message": record("INFO", "late")}],
            )
        if sleeps == 3:
            raise KeyboardInterrupt

    clock.on_sleep = late_event_then_stop
    result = cli("logs", "--follow", "--since", "5m")
    assert result.exit_code == 0
    assert [line.split("INFO")[1].strip() for line in result.stdout.splitlines()] == ["first", "late"]


def test_the_reader_forgets_events_older_than_the_window() -> None:
    from mailflow_cli.operate.logs import LogReader

    class Pages:
        def __init__(self, events: list[dict[str, object]]) -> None:
            self.events = events

        def get_paginator(self, _name: str) -> Pages:
            return self

        def paginate(self, **arguments: object) -> list[dict[str, object]]:
            start = arguments["startTime"]
            assert isinstance(start, int)
            return [{"events": [e for e in self.events if int(str(e["timestamp"])) >= start]}]

    events: list[dict[str, object]] = [
        {"eventId": "a", "timestamp": 1_000},
        {"eventId": "b", "timestamp": 90_000},
    ]
    reader = LogReader(Pages(events), GROUP)
    assert [e["eventId"] for e in reader.events_since(0)] == ["a", "b"]
    assert [e["eventId"] for e in reader.events_since(30_000)] == []
    assert reader._seen == {"b": 90_000}
