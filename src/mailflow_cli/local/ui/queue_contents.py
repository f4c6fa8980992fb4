"""What is on a queue, read from moto's SQS backend in this process, without receiving anything.

A ``ReceiveMessage`` (even with ``VisibilityTimeout=0``) counts towards the queue's ``maxReceiveCount``
and can move a message to its dead-letter queue, and it hides the message from the app meanwhile. The web
inbox runs in the emulator's process, so it reads the queue's message list itself: nothing about a message
changes when a page shows it. This module and :mod:`mailflow_cli.local.moto_patches` are the places that
know the emulator's SQS is moto (``moto.sqs.models.sqs_backends[account][region].queues[name]._messages``,
moto 5.2.x).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

MessageState = Literal["visible", "in flight", "delayed"]
DEAD_LETTER_SOURCE = "mailflow_dead_letter_source_arn"
"""Set by moto_patches (patch 6) on a message moto moved to a dead-letter queue."""


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    body: str
    sent_at: float | None
    receive_count: int
    state: MessageState
    dead_letter_source_arn: str | None = None

    @property
    def size(self) -> int:
        return len(self.body.encode("utf-8"))


@dataclass(frozen=True)
class QueueContents:
    """A snapshot of one queue: its messages, oldest first, and the counts SQS would report."""

    name: str
    exists: bool
    messages: tuple[QueuedMessage, ...] = ()

    def count(self, state: MessageState) -> int:
        return sum(1 for message in self.messages if message.state == state)

    @property
    def oldest_sent_at(self) -> float | None:
        sent = [message.sent_at for message in self.messages if message.sent_at is not None]
        return min(sent) if sent else None

    def oldest_age_seconds(self, now: float | None = None) -> float | None:
        oldest = self.oldest_sent_at
        return None if oldest is None else max(0.0, (now or time.time()) - oldest)

    def message(self, message_id: str) -> QueuedMessage | None:
        return next((message for message in self.messages if message.message_id == message_id), None)


def _state(message: Any) -> MessageState:
    if message.delayed:
        return "delayed"
    return "visible" if message.visible else "in flight"


def _snapshot(message: Any) -> QueuedMessage:
    sent = message.sent_timestamp
    return QueuedMessage(
        message_id=str(message.id),
        body=str(message.body),
        sent_at=None if sent is None else int(sent) / 1000,
        receive_count=int(message.approximate_receive_count),
        state=_state(message),
        dead_letter_source_arn=getattr(message, DEAD_LETTER_SOURCE, None),
    )


def read_queue(account_id: str, region: str, name: str) -> QueueContents:
    """The queue's messages as they are now (a copy; moto's objects are not kept)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account_id][region].queues.get(name)
    if queue is None:
        return QueueContents(name=name, exists=False)
    messages = list(queue._messages)  # moto replaces the list on delete: this reference stays whole
    snapshots = sorted(map(_snapshot, messages), key=lambda m: (m.sent_at or 0.0, m.message_id))
    return QueueContents(name=name, exists=True, messages=tuple(snapshots))


def fingerprint(account_id: str, region: str, names: list[str]) -> tuple[tuple[str, int, int], ...]:
    """Cheap to compute, different whenever a message arrives, leaves or is received on these queues."""
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[account_id][region].queues
    found = []
    for name in names:
        queue = queues.get(name)
        messages = list(queue._messages) if queue is not None else []
        ids = hash(tuple(str(message.id) for message in messages))
        received = sum(int(message.approximate_receive_count) for message in messages)
        found.append((name, ids, received))
    return tuple(found)
