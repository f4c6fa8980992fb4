"""``mailflow tail``: show the messages of one of the stack's queues as they arrive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.operate import peek
from mailflow_cli.operate.peek import QueuePeeker
from mailflow_cli.operate.render import MessageView, view_message
from mailflow_cli.operate.timing import Clock

DRAIN_WAIT_SECONDS = 1  # a short long-poll: an empty answer then means the queue is empty
IDLE_PAUSE_SECONDS = 1.0


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Any of the stack's queues, consumed with ``--delete``."""
    return peek.permissions(scopes.queues, consume=True)


@dataclass(frozen=True)
class TailResult:
    shown: int
    returned: int


def tail_queue(
    sqs: Any,
    queue_url: str,
    *,
    clock: Clock,
    emit: Callable[[MessageView], None],
    follow: bool = False,
    limit: int | None = None,
    delete: bool = False,
) -> TailResult:
    """Emit each message once; stop when the queue is drained (unless ``follow``) or after ``limit``."""
    peeker = QueuePeeker(sqs=sqs, queue_url=queue_url, clock=clock, delete=delete)
    shown = 0
    try:
        while limit is None or shown < limit:
            wait = (
                clock.receive_wait_seconds if follow else min(DRAIN_WAIT_SECONDS, clock.receive_wait_seconds)
            )
            wanted = 10 if limit is None else limit - shown
            messages = peeker.receive(wait_seconds=wait, max_messages=wanted)
            for message in messages:
                emit(view_message(message))
                shown += 1
            if not messages:
                if not follow:
                    break
                if wait == 0:
                    clock.sleep(IDLE_PAUSE_SECONDS)
    finally:
        returned = peeker.release()
    return TailResult(shown=shown, returned=returned)
