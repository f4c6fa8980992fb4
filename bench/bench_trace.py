"""Benchmark 9: ``mailflow trace`` over a window holding 10,000 emails' log lines.

The handler's log group is a fake CloudWatch Logs client holding, per email, the lines Lambda writes
(START, the ``inbound email`` line in contract L's shape, the EMF document, END, REPORT: 50,000 events),
served 10,000 events a page by FilterLogEvents and up to 10,000 rows by Logs Insights, as AWS does. Two
ways the server may answer, both through the CLI's real ``trace_logs.search`` and ``trace.timelines``:

- **narrowed**: the server evaluates the term pattern (FilterLogEvents) or the query's filters (Insights)
  and returns only the matching lines, as AWS does;
- **unnarrowed** (FilterLogEvents only): the server returns every event of the window, as the emulator's
  (moto's) FilterLogEvents does for a ``?"a" ?"b"`` pattern: the CLI's own check of every line is then
  the whole cost. (Insights cannot be unnarrowed: it would stop at 10,000 rows, and AWS filters.)

Figures: CPU per trace, API calls per trace, and the ratio to an in-run yardstick: ``json.loads`` of every
line of the window, the least any client-side search must do when the server does not narrow.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import Target, finish, print_table, spread, use_project_paths

EMAILS = 10_000
ROUNDS = 5
PAGE = 10_000
START_MS = 1_800_000_000_000
GROUP = "/aws/lambda/mailflow-bench-handler"


@dataclass
class FakeLogs:
    """FilterLogEvents and Logs Insights over a list of events, narrowing like AWS when ``narrow``."""

    events: list[dict[str, Any]]
    narrow: bool
    calls: dict[str, int] = field(default_factory=dict)
    _results: list[list[dict[str, str]]] = field(default_factory=list)
    # The server's own filtering, done once per question: the benchmark times the CLI, not the fake server.
    _answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def _chosen(
        self, key: str, start_ms: int, end_ms: int, needles: list[str], limit: int
    ) -> list[dict[str, Any]]:
        if key not in self._answers:
            self._answers[key] = [
                e
                for e in self.events
                if start_ms <= e["timestamp"] <= end_ms
                and (not self.narrow or any(needle in e["message"] for needle in needles))
            ][:limit]
        return self._answers[key]

    def _hit(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get_paginator(self, name: str) -> FakeLogs:
        assert name == "filter_log_events"
        return self

    def paginate(self, **arguments: Any) -> Any:
        pattern = str(arguments.get("filterPattern", ""))
        terms = [term.strip("?").strip('"') for term in pattern.split()]
        chosen = self._chosen(pattern, arguments["startTime"], arguments["endTime"], terms, len(self.events))
        for first in range(0, max(len(chosen), 1), PAGE):
            self._hit("FilterLogEvents")
            yield {"events": chosen[first : first + PAGE]}

    def start_query(self, **arguments: Any) -> dict[str, str]:
        self._hit("StartQuery")
        query = arguments["queryString"]
        needles = [part.split('"')[1] for part in query.split(" = ")[1:]]
        needles += [part.split("/")[0] for part in query.split("like /")[1:]]
        start_ms, end_ms = arguments["startTime"] * 1000, arguments["endTime"] * 1000
        chosen = self._chosen(query, start_ms, end_ms, needles, arguments["limit"])
        self._results = [
            [
                {"field": "@timestamp", "value": _insights_time(e["timestamp"])},
                {"field": "@message", "value": e["message"]},
            ]
            for e in chosen
        ]
        return {"queryId": "q-1"}

    def get_query_results(self, **_: Any) -> dict[str, Any]:
        self._hit("GetQueryResults")
        return {"status": "Complete", "results": self._results}


def _insights_time(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def window_events() -> list[dict[str, Any]]:
    from trace_lines import inbound_line

    events: list[dict[str, Any]] = []
    for index in range(EMAILS):
        at = START_MS + index * 100
        request = f"req-{index:05d}"
        line = inbound_line(index, at)
        emf = {"_aws": {"Timestamp": at, "CloudWatchMetrics": []}, "service": "mailflow", "InboundEmails": 1}
        for offset, message in enumerate(
            (
                f"START RequestId: {request} Version: $LATEST",
                json.dumps(line, ensure_ascii=False),
                json.dumps(emf),
                f"END RequestId: {request}",
                f"REPORT RequestId: {request}\tDuration: 30.00 ms\tBilled Duration: 30 ms",
            )
        ):
            events.append({"timestamp": at + offset, "message": message, "eventId": f"{index}-{offset}"})
    return events


@dataclass
class Context:
    """The parts of a StackContext that trace's search reads."""

    logs: FakeLogs
    local: bool

    @property
    def clients(self) -> Context:
        return self

    @property
    def names(self) -> Context:
        return self

    log_group = GROUP

    def client(self, _: str) -> FakeLogs:
        return self.logs

    def app_queue(self, app: str) -> str:
        return f"mailflow-bench-app-{app}"


def run_trace(logs: FakeLogs, query_text: str, *, local: bool) -> tuple[float, int, dict[str, int]]:
    from mailflow_cli.operate.address_hash import address_hash
    from mailflow_cli.operate.timing import FakeClock
    from mailflow_cli.operate.trace import timelines
    from mailflow_cli.operate.trace_logs import Window, search
    from mailflow_cli.operate.trace_query import build_query

    logs.calls.clear()
    ctx: Any = Context(logs, local)
    window = Window(START_MS, START_MS + EMAILS * 100)
    started = time.process_time()
    query = build_query(query_text, lambda address: address_hash(bytes(range(32)), address))
    found = search(ctx, query, window, FakeClock().as_clock())
    matches = timelines(found.lines, ctx)
    return time.process_time() - started, len(matches), logs.calls


def yardstick(events: list[dict[str, Any]]) -> float:
    started = time.process_time()
    for event in events:
        message = event["message"]
        if message.startswith("{"):
            json.loads(message)
    return time.process_time() - started


def main() -> None:
    use_project_paths()
    sys.path.insert(0, str(Path(__file__).parent))
    events = window_events()
    queries = {
        "SES id": "ses-04711",
        "Message-ID": "<m-04711@example.org>",
        "address": "sender-04711@outside.example",
    }
    rows: dict[str, Any] = {"emails": EMAILS, "events": len(events)}
    table: list[list[object]] = []
    for label, text in queries.items():
        for source, local, narrowing in (
            ("FilterLogEvents", True, (True, False)),
            ("Logs Insights", False, (True,)),  # unnarrowed, Insights would stop at 10,000 rows
        ):
            for narrow in narrowing:
                logs = FakeLogs(events, narrow)
                run_trace(logs, text, local=local)  # the fake server filters once; later rounds reuse it
                samples = []
                for _ in range(ROUNDS):
                    cpu, found, calls = run_trace(logs, text, local=local)
                    samples.append(cpu)
                    assert found == 1, (label, source, narrow, found)
                cpu_spread = spread(samples)
                key = f"{label} via {source}, {'narrowed' if narrow else 'unnarrowed'}"
                rows[key] = {"cpu_s": cpu_spread, "api_calls": calls}
                table.append([key, cpu_spread.median * 1e3, sum(calls.values())])
    base = spread([yardstick(events) for _ in range(ROUNDS)])
    rows["yardstick_json_loads_cpu_s"] = base
    worst = max(v["cpu_s"].median for k, v in rows.items() if isinstance(v, dict) and "unnarrowed" in k)
    print_table(
        f"trace over {EMAILS:,} emails ({len(events):,} events), {ROUNDS} rounds",
        ["trace", "CPU ms (median)", "API calls"],
        [*table, ["yardstick: json.loads of every JSON line", base.median * 1e3, 0]],
    )
    finish(
        "trace",
        rows,
        [
            Target("trace, unnarrowed window, CPU / yardstick (worst query)", worst / base.median, 3.0, "x"),
            Target(
                "trace API calls, 10,000 emails, narrowed FilterLogEvents",
                max(
                    sum(v["api_calls"].values())
                    for k, v in rows.items()
                    if isinstance(v, dict) and "FilterLogEvents, narrowed" in k
                ),
                1,
                "calls",
            ),
        ],
        notes=[
            "fake CloudWatch Logs client; botocore's parsing of the pages is not included",
            "unnarrowed: the server returns all 50,000 events; narrowed: only the matching lines",
        ],
    )


if __name__ == "__main__":
    main()
