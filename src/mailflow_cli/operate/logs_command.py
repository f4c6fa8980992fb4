"""Wiring and output of ``mailflow logs``."""

from __future__ import annotations

from typing import Any

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json_line, styled
from mailflow_cli.context import StackContext
from mailflow_cli.operate import logs
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.logs import LogGroupMissing, LogReader, event_document, follow, render_event
from mailflow_cli.operate.timing import current_clock


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return logs.permissions(scopes)


def run(
    ctx: StackContext, *, since: str, filter_pattern: str | None, follow_logs: bool, json_output: bool
) -> None:
    window = parse_duration(since, option="--since")
    clock = current_clock()
    start_ms = int((clock.now() - window) * 1000)
    reader = LogReader(ctx.clients.client("logs"), ctx.names.log_group, filter_pattern)

    def emit(event: dict[str, Any]) -> None:
        if json_output:
            print_json_line(event_document(event))
            return
        line = render_event(event)
        if line is not None:
            out.print(line)

    if follow_logs:
        err.print(styled((f"Following {ctx.names.log_group} (Ctrl-C to stop).", "dim")))
        try:
            follow(reader, start_ms, clock=clock, emit=emit)
        except KeyboardInterrupt:
            return
    try:
        events = reader.events_since(start_ms)
    except LogGroupMissing:
        err.print(
            f"No log events: the log group {ctx.names.log_group} does not exist. Deploy creates it, so "
            f"the stack {ctx.names.prefix} is not deployed here (or the group was deleted): "
            "run mailflow deploy."
        )
        return
    for event in events:
        emit(event)
    if not events:
        pattern = f" matching {filter_pattern!r}" if filter_pattern else ""
        err.print(f"No log events{pattern} in the last {format_duration(window)}.")
