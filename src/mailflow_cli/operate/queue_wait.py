"""Waiting for one particular message on a queue without consuming any other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailflow_cli.access import Grant, Scope
from mailflow_cli.operate import peek
from mailflow_cli.operate.peek import QueuePeeker
from mailflow_cli.operate.render import parse_body
from mailflow_cli.operate.timing import Clock

IDLE_PAUSE_SECONDS = 1.0


def permissions(queues: Scope) -> tuple[Grant, ...]:
    """Waiting on ``queues``: the message waited for is deleted (always by send-test; by wait, with
    --delete)."""
    return peek.permissions(queues, consume=True)


@dataclass(frozen=True)
class Found:
    message: dict[str, Any]
    body: Any
    waited: float


def wait_for_message(
    sqs: Any,
    queue_url: str,
    matches: Callable[[Any], bool],
    *,
    timeout: float,
    clock: Clock,
    on_poll: Callable[[float], None] = lambda elapsed: None,
    delete: bool = True,
) -> Found | None:
    """Receive until a message whose parsed body ``matches`` arrives; delete it (unless not ``delete``)
    and return it.

    Other messages (and the match, when it is kept) are held while waiting, so each is received once,
    and returned to the queue when the wait ends. ``None`` when ``timeout`` passes first.
    """
    peeker = QueuePeeker(sqs=sqs, queue_url=queue_url, clock=clock)
    started = clock.now()
    try:
        while True:
            elapsed = clock.now() - started
            on_poll(elapsed)
            remaining = timeout - elapsed
            if remaining <= 0:
                return None
            wait = min(clock.receive_wait_seconds, max(1, int(remaining)))
            for message in peeker.receive(wait_seconds=wait):
                body = parse_body(str(message.get("Body", "")))
                if matches(body):
                    if delete:
                        peeker.consume([message])
                    return Found(message=message, body=body, waited=clock.now() - started)
            if wait == 0:
                clock.sleep(IDLE_PAUSE_SECONDS)
    finally:
        peeker.release()
