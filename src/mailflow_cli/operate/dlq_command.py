"""Wiring and output of ``mailflow dlq list|show|redrive|purge``."""

from __future__ import annotations

import sys
from dataclasses import replace

from rich.table import Table

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json, print_json_line, styled
from mailflow_cli.context import StackContext
from mailflow_cli.errors import UsageError
from mailflow_cli.operate import dlq, stack
from mailflow_cli.operate.durations import format_duration
from mailflow_cli.operate.render import message_document, render_message, terminal_text
from mailflow_cli.operate.stack import DLQ_ALIASES, QueueRef, dead_letter_queues, resolve_queue
from mailflow_cli.operate.timing import current_clock

DLQ_CHOICES = "apps, outbound, inbound or events (also dlq:apps, dlq:outbound, dlq:inbound, dlq:events)"
# Here "outbound" and "events" can only mean their DLQs.
_HERE: dict[str, str] = {"outbound": "dlq:outbound", "events": "dlq:events"}


def list_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *dlq.summary_permissions(scopes))


def show_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *dlq.peek_permissions(scopes))


def redrive_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *dlq.redrive_permissions(scopes))


def purge_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *dlq.purge_permissions(scopes))


def _selected(ctx: StackContext, queue: str | None) -> list[QueueRef]:
    if queue is None:
        return dead_letter_queues(ctx)
    key = queue.strip().lower()
    key = _HERE.get(key, key)
    if key not in DLQ_ALIASES:
        raise UsageError(f"{queue!r} is not a dead-letter queue", hint=f"choose {DLQ_CHOICES}")
    ref = resolve_queue(ctx, key)
    return [replace(ref, label="dlq:" + ref.kind.removesuffix("-dlq"))]


def list_queues(ctx: StackContext, *, json_output: bool) -> None:
    clock = current_clock()
    sqs = ctx.clients.client("sqs")
    summaries = [dlq.summarise(sqs, queue, clock) for queue in _selected(ctx, None)]
    now = clock.now()
    if json_output:
        print_json([summary.as_dict(now) for summary in summaries])
        return
    table = Table(title=f"Dead-letter queues of {ctx.names.prefix}", title_justify="left")
    for column in ("Queue", "Messages", "In flight", "Oldest", "What failed"):
        table.add_column(column, overflow="fold")
    for summary in summaries:
        reasons = ", ".join(
            f"{count}x {terminal_text(label)}" for label, count in summary.reasons.most_common(5)
        )
        oldest = "" if summary.oldest_sent_at is None else format_duration(now - summary.oldest_sent_at)
        style = "red" if summary.visible else "green"
        table.add_row(
            summary.queue.label,
            styled((str(summary.visible), style)),
            str(summary.in_flight),
            oldest,
            reasons or "-",
        )
    out.print(table)
    if any(summary.visible for summary in summaries):
        err.print("Details: `mailflow dlq show QUEUE`; retry: `mailflow dlq redrive QUEUE`.")


def show(ctx: StackContext, queue: str | None, *, limit: int, json_output: bool) -> None:
    clock = current_clock()
    sqs = ctx.clients.client("sqs")
    shown = 0
    for ref in _selected(ctx, queue):
        for view in dlq.peek(sqs, ref, clock, limit):
            shown += 1
            if json_output:
                print_json_line(
                    {**message_document(view, ref.label), "sourceQueueArn": view.source_queue_arn}
                )
            else:
                out.print(render_message(view, clock.now(), ref.label))
    if shown == 0:
        err.print("No messages in the dead-letter queue(s).")


def redrive(ctx: StackContext, queue: str, *, json_output: bool) -> None:
    ref = _selected(ctx, queue)[0]
    result = dlq.redrive(ctx, ref, current_clock())
    if json_output:
        print_json(result.as_dict())
        return
    if result.fallback_reason:
        err.print(styled((f"{result.fallback_reason}; copying the messages back instead.", "dim")))
    if result.task_handle:
        out.print(
            f"Started an SQS move task for {ref.name} (handle {result.task_handle}); in the background SQS "
            "moves each message it dead-lettered back to the queue it came from (messages it did not "
            "dead-letter are not moved). Follow it with `mailflow dlq list`."
        )
    verb = "re-invoked" if result.method == "reinvoke" else "moved to"
    for destination, count in result.moved.items():
        out.print(f"{count} message(s) {verb} {destination}")
    for entry in result.left:
        email = f" (SES message {entry.ses_message_id})" if entry.ses_message_id else ""
        out.print(styled((f"left in {ref.name}", "yellow"), f": {entry.message_id}{email}: {entry.why}"))
    if not result.moved and not result.left and not result.task_handle:
        out.print(f"{ref.name} is empty: nothing to redrive.")


def purge(ctx: StackContext, queue: str, *, assume_yes: bool, json_output: bool) -> None:
    import typer

    ref = _selected(ctx, queue)[0]
    if not assume_yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"purging {ref.name} deletes its messages for good and needs confirmation",
                hint="run it in a terminal, or pass --yes",
            )
        if not typer.confirm(f"Delete every message in {ref.name}?", default=False, err=True):
            raise UsageError(f"purge cancelled; {ref.name} was not changed")
    count = dlq.purge(ctx.clients.client("sqs"), ref)
    if json_output:
        print_json({"queue": ref.label, "name": ref.name, "purged": count})
    else:
        out.print(f"Purged {ref.name} (about {count} message(s); SQS may take up to 60 s to finish).")
