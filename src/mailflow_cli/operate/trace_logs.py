"""The handler's log lines that match a trace query, within the window asked for and no more.

Two sources, one answer: CloudWatch Logs Insights (StartQuery + GetQueryResults: the query filters on
the lines' JSON fields server-side, in parallel, over the window) or FilterLogEvents (a term pattern
narrows server-side; pages are read in order). Insights is used on AWS; FilterLogEvents with
``--local`` (the emulator's CloudWatch Logs does not evaluate Insights ``filter`` commands) and when
StartQuery is refused (e.g. a policy that grants only logs:FilterLogEvents). Either way every line is
checked against the query here, and only matching lines are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.errors import AwsError
from mailflow_cli.operate.logs import LogGroupMissing, parse_record
from mailflow_cli.operate.timing import Clock
from mailflow_cli.operate.trace_query import TraceQuery

MAX_LINES = 10_000  # Logs Insights returns at most 10,000 rows per query; FilterLogEvents keeps as many
INSIGHTS_POLL_SECONDS = 1.0
INSIGHTS_TIMEOUT_SECONDS = 120.0
INSIGHTS_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})
# StartQuery refused for the caller, or not offered by the endpoint: FilterLogEvents can still answer.
INSIGHTS_UNAVAILABLE = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnknownOperationException", "InvalidAction"}
)
INSIGHTS = "Logs Insights"
FILTER_LOG_EVENTS = "FilterLogEvents"


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class LogLine:
    at_ms: int
    record: dict[str, Any]


@dataclass
class Found:
    lines: list[LogLine] = field(default_factory=list)
    source: str = FILTER_LOG_EVENTS
    truncated: bool = False  # more lines matched than MAX_LINES
    note: str | None = None  # why the source is not the preferred one


def search(ctx: StackContext, query: TraceQuery, window: Window, clock: Clock) -> Found:
    """Every matching line in the window, oldest first. Raises LogGroupMissing without a log group."""
    logs = ctx.clients.client("logs")
    group = ctx.names.log_group
    if ctx.local:
        return _filter_log_events(logs, group, query, window)
    try:
        return _insights(logs, group, query, window, clock)
    except _InsightsUnavailable as unavailable:
        found = _filter_log_events(logs, group, query, window)
        found.note = f"Logs Insights is unavailable ({unavailable}); searched with FilterLogEvents"
        return found


class _InsightsUnavailable(Exception):
    pass


def _missing_group(exc: Exception, group: str) -> LogGroupMissing | None:
    return LogGroupMissing(group) if error_code(exc) == "ResourceNotFoundException" else None


def _filter_log_events(logs: Any, group: str, query: TraceQuery, window: Window) -> Found:
    from botocore.exceptions import ClientError

    found = Found(source=FILTER_LOG_EVENTS)
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group,
        startTime=window.start_ms,
        endTime=window.end_ms,
        filterPattern=query.filter_pattern(),
    )
    try:
        for page in pages:
            for event in page.get("events", []):
                record = parse_record(str(event.get("message", "")))
                if record is None or not query.matches(record):
                    continue
                if len(found.lines) == MAX_LINES:
                    found.truncated = True
                    return _sorted(found)
                found.lines.append(LogLine(_line_time(record, int(event["timestamp"])), record))
    except ClientError as exc:
        missing = _missing_group(exc, group)
        if missing is not None:
            raise missing from None
        raise translate_client_error(exc, f"the log group {group}") from exc
    return _sorted(found)


def _sorted(found: Found) -> Found:
    found.lines.sort(key=lambda line: line.at_ms)
    return found


def _insights(logs: Any, group: str, query: TraceQuery, window: Window, clock: Clock) -> Found:
    from botocore.exceptions import ClientError

    try:
        query_id = logs.start_query(
            logGroupName=group,
            startTime=window.start_ms // 1000,
            endTime=-(-window.end_ms // 1000),
            queryString=query.insights_query(MAX_LINES),
            limit=MAX_LINES,
        )["queryId"]
    except ClientError as exc:
        missing = _missing_group(exc, group)
        if missing is not None:
            raise missing from None
        if error_code(exc) in INSIGHTS_UNAVAILABLE:
            raise _InsightsUnavailable(error_code(exc)) from None
        raise translate_client_error(exc, f"the log group {group}") from exc
    waited = 0.0
    while True:
        try:
            response = logs.get_query_results(queryId=query_id)
        except ClientError as exc:
            raise translate_client_error(exc, f"the Logs Insights query on {group}") from exc
        status = str(response.get("status", ""))
        if status in INSIGHTS_DONE:
            break
        if waited >= INSIGHTS_TIMEOUT_SECONDS:
            logs.stop_query(queryId=query_id)
            raise AwsError(
                f"the Logs Insights query on {group} did not finish within {INSIGHTS_TIMEOUT_SECONDS:g}s",
                hint="narrow the window with --since",
            )
        clock.sleep(INSIGHTS_POLL_SECONDS)
        waited += INSIGHTS_POLL_SECONDS
    if status != "Complete":
        raise AwsError(f"the Logs Insights query on {group} ended {status}", hint="run the command again")
    found = Found(source=INSIGHTS)
    rows = response.get("results", [])
    for row in rows:
        values = {str(cell.get("field")): str(cell.get("value", "")) for cell in row}
        record = parse_record(values.get("@message", ""))
        if record is None or not query.matches(record):
            continue
        found.lines.append(LogLine(_line_time(record, _insights_time(values.get("@timestamp", ""))), record))
    found.truncated = len(rows) >= MAX_LINES
    return _sorted(found)


def _line_time(record: dict[str, Any], event_ms: int) -> int:
    """When the handler wrote the line: its own ``timestamp`` field (ISO 8601), else the event's time."""
    stamp = record.get("timestamp")
    if isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    return event_ms


def _insights_time(text: str) -> int:
    """Logs Insights' ``@timestamp`` (``2026-11-30 16:12:25.123``, UTC) in epoch milliseconds."""
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(parsed.timestamp() * 1000)
