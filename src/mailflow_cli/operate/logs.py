"""``mailflow logs``: the handler's CloudWatch log events, fetched once or followed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code
from mailflow_cli.operate.timing import Clock

FOLLOW_INTERVAL_SECONDS = 2.0
LATE_EVENTS_MS = 60_000  # --follow looks back this far for events that arrive late
HIDDEN_FIELDS = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_request_id",
        "function_name",
        "xray_trace_id",
    }
)
LEVEL_STYLES = {
    "DEBUG": "dim",
    "INFO": "cyan",
    "WARNING": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold red",
}
PLATFORM_PREFIXES = ("START RequestId:", "END RequestId:", "INIT_START", "EXTENSION")


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.log_group, "logs:FilterLogEvents"),)


class LogGroupMissing(Exception):
    """The function's log group does not exist: deploy creates it, so the stack is not deployed."""


@dataclass
class LogReader:
    logs: Any
    group: str
    filter_pattern: str | None = None
    _seen: dict[str, int] | None = None

    def events_since(self, start_ms: int) -> list[dict[str, Any]]:
        """Every event from ``start_ms`` on that this reader has not returned before, oldest first.

        Only the ids of events at or after ``start_ms`` are remembered: older ones cannot come back.
        """
        from botocore.exceptions import ClientError

        seen = self._seen if self._seen is not None else {}
        for event_id in [key for key, at in seen.items() if at < start_ms]:
            del seen[event_id]
        self._seen = seen
        arguments: dict[str, Any] = {"logGroupName": self.group, "startTime": start_ms, "interleaved": True}
        if self.filter_pattern:
            arguments["filterPattern"] = self.filter_pattern
        events: list[dict[str, Any]] = []
        try:
            for page in self.logs.get_paginator("filter_log_events").paginate(**arguments):
                for event in page.get("events", []):
                    if event["eventId"] not in seen:
                        seen[event["eventId"]] = int(event["timestamp"])
                        events.append(event)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise LogGroupMissing(self.group) from None
            raise
        return sorted(events, key=lambda e: (e["timestamp"], e["eventId"]))


def follow(
    reader: LogReader,
    start_ms: int,
    *,
    clock: Clock,
    emit: Callable[[dict[str, Any]], None],
    interval: float = FOLLOW_INTERVAL_SECONDS,
) -> None:
    """Emit events as they are written, until interrupted (Ctrl-C); a missing group is waited for.

    CloudWatch Logs may make an event searchable after newer ones (another log stream, a late batch),
    so each poll looks back ``LATE_EVENTS_MS`` before the newest event seen; the reader skips the
    events it has already returned.
    """
    newest = start_ms
    while True:
        try:
            for event in reader.events_since(max(start_ms, newest - LATE_EVENTS_MS)):
                emit(event)
                newest = max(newest, int(event["timestamp"]))
        except LogGroupMissing:
            pass
        clock.sleep(interval)


def parse_record(message: str) -> dict[str, Any] | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def render_event(event: dict[str, Any]) -> Text | None:
    """One readable line, or ``None`` for noise (Lambda's START/END lines)."""
    when = datetime.fromtimestamp(int(event["timestamp"]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    message = str(event.get("message", "")).rstrip("\n")
    line = Text(f"{when} ", style="dim")
    if message.startswith(PLATFORM_PREFIXES):
        return None
    record = parse_record(message)
    if record is None:
        line.append(message, style="dim" if message.startswith("REPORT") else "")
        return line
    if "_aws" in record:
        line.append("metrics ", style="magenta")
        line.append(_metrics_summary(record), style="dim")
        return line
    level = str(record.get("level", "INFO")).upper()
    line.append(f"{level:<7} ", style=LEVEL_STYLES.get(level, ""))
    line.append(str(record.get("message", "")), style="bold" if level in ("ERROR", "CRITICAL") else "")
    extras = {k: v for k, v in record.items() if k not in HIDDEN_FIELDS and v not in (None, [], {}, "")}
    if extras:
        line.append("  " + " ".join(f"{k}={_short(v)}" for k, v in extras.items()), style="dim")
    return line


def _metrics_summary(record: dict[str, Any]) -> str:
    names: list[str] = []
    for directive in record["_aws"].get("CloudWatchMetrics", []):
        names.extend(str(metric.get("Name")) for metric in directive.get("Metrics", []))
    return " ".join(f"{name}={_short(record.get(name))}" for name in names) or "(EMF record)"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def event_document(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": event["timestamp"],
        "logStreamName": event.get("logStreamName"),
        "eventId": event.get("eventId"),
        "message": event.get("message"),
    }
