"""Wiring and output of ``mailflow tail``."""

from __future__ import annotations

from mailflow_cli.console import err, out, print_json_line
from mailflow_cli.context import StackContext
from mailflow_cli.operate.peek import PEEK_NOTICE
from mailflow_cli.operate.render import MessageView, message_document, render_message
from mailflow_cli.operate.stack import resolve_queue
from mailflow_cli.operate.tail import tail_queue
from mailflow_cli.operate.timing import current_clock


def run(
    ctx: StackContext, target: str, *, follow: bool, limit: int | None, delete: bool, json_output: bool
) -> None:
    queue = resolve_queue(ctx, target)
    clock = current_clock()
    if not delete:
        err.print(f"[dim]{PEEK_NOTICE}[/]", markup=True)
    if follow:
        err.print(f"[dim]Following {queue.name} (Ctrl-C to stop).[/]", markup=True)

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
            f"[dim]{result.shown} message(s) {verb}; {result.returned} returned to {queue.name}.[/]",
            markup=True,
        )
