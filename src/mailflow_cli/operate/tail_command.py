"""Wiring and output of ``mailflow tail``."""

from __future__ import annotations

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json_line, styled
from mailflow_cli.context import StackContext
from mailflow_cli.operate import stack, tail
from mailflow_cli.operate.peek import PEEK_NOTICE
from mailflow_cli.operate.render import MessageView, message_document, render_message
from mailflow_cli.operate.stack import resolve_queue
from mailflow_cli.operate.tail import tail_queue
from mailflow_cli.operate.timing import current_clock


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *tail.permissions(scopes))


def run(
    ctx: StackContext, target: str, *, follow: bool, limit: int | None, delete: bool, json_output: bool
) -> None:
    queue = resolve_queue(ctx, target)
    clock = current_clock()
    if not delete:
        err.print(styled((PEEK_NOTICE, "dim")))
    if follow:
        err.print(styled((f"Following {queue.name} (Ctrl-C to stop).", "dim")))

    def emit(view: MessageView) -> None:
        if json_output:
            print_json_line(message_document(view, queue.label))
        else:
            out.print(render_message(view, clock.now(), queue.label))

    try:
        result = tail_queue(
            ctx.clients.client("sqs"),
            queue.url,
            clock=clock,
            emit=emit,
            follow=follow,
            limit=limit,
            delete=delete,
        )
    except KeyboardInterrupt:
        return
    verb = "deleted" if delete else "shown"
    if result.shown == 0:
        err.print(f"{queue.name} is empty.")
    else:
        err.print(
            styled((f"{result.shown} message(s) {verb}; {result.returned} returned to {queue.name}.", "dim"))
        )
