"""Wiring and output of ``mailflow wait``."""

from __future__ import annotations

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.errors import MailflowError
from mailflow_cli.operate import stack, wait
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.queue_wait import wait_for_message
from mailflow_cli.operate.render import message_document, render_message, view_message
from mailflow_cli.operate.stack import resolve_queue
from mailflow_cli.operate.timing import current_clock
from mailflow_cli.operate.wait import MessageFilter, parse_match


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (*stack.permissions(scopes), *wait.permissions(scopes))


class WaitTimeout(MailflowError):
    exit_code = 1


def run(
    ctx: StackContext,
    target: str,
    *,
    subject: str | None,
    sender: str | None,
    matches: list[str],
    timeout: str,
    delete: bool,
    json_output: bool,
) -> None:
    timeout_seconds = parse_duration(timeout, option="--timeout")
    wanted = MessageFilter(subject=subject, sender=sender, matches=tuple(parse_match(m) for m in matches))
    queue = resolve_queue(ctx, target)
    clock = current_clock()
    what = wanted.describe()
    with waiting(f"Waiting for {what} on {queue.name}") as spinner:
        found = wait_for_message(
            ctx.clients.client("sqs"),
            queue.url,
            wanted,
            timeout=timeout_seconds,
            clock=clock,
            delete=delete,
            on_poll=lambda elapsed: spinner.update(
                f"Waiting for {what} on {queue.name} "
                f"({format_duration(elapsed)} of {format_duration(timeout_seconds)})"
            ),
        )
    if found is None:
        raise WaitTimeout(
            f"{what} did not reach {queue.name} within {format_duration(timeout_seconds)}",
            hint=f"see what is there with `mailflow tail {queue.label}`, or wait longer with --timeout",
        )
    view = view_message(found.message)
    if json_output:
        print_json(message_document(view, queue.label))
    else:
        out.print(render_message(view, clock.now(), queue.label))
    done = "deleted" if delete else f"left on {queue.name}"
    err.print(styled((f"Found after {format_duration(found.waited)}; {done}.", "dim")))
