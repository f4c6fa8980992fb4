"""Reading a queue without stealing from it.

A message received here is *held* (invisible) while the command runs, so that each message is received
once per run (every receive counts towards the queue's maxReceiveCount), and is returned to the queue
(visibility 0) when the command ends. Holds are short and renewed, so a killed command gives the
messages back within HOLD_SECONDS. With ``delete=True`` messages are consumed instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mailflow_cli.access import Grant, Scope, allow
from mailflow_cli.operate.timing import Clock

HOLD_SECONDS = 60
RENEW_AFTER_SECONDS = 30
SQS_BATCH = 10


def permissions(queues: Scope, *, consume: bool) -> tuple[Grant, ...]:
    """Peeking at ``queues``, and with ``consume`` deleting what was read (a batch call is authorised as
    its single-message action)."""
    actions = ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility")
    return (allow(queues, *actions, *(("sqs:DeleteMessage",) if consume else ())),)


@dataclass
class _Held:
    receipt_handle: str
    held_at: float


@dataclass
class QueuePeeker:
    sqs: Any
    queue_url: str
    clock: Clock
    delete: bool = False
    _held: dict[str, _Held] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def receive(self, *, wait_seconds: int, max_messages: int = SQS_BATCH) -> list[dict[str, Any]]:
        """Messages not returned before by this peeker (at most ``max_messages``, up to 10)."""
        self._renew_holds()
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(SQS_BATCH, max_messages)),
            WaitTimeSeconds=max(0, min(20, wait_seconds)),
            VisibilityTimeout=HOLD_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        fresh: list[dict[str, Any]] = []
        for message in response.get("Messages", []):
            message_id = message["MessageId"]
            self._held[message_id] = _Held(message["ReceiptHandle"], self.clock.now())
            if message_id not in self._seen:
                self._seen.add(message_id)
                fresh.append(message)
        if self.delete and fresh:
            self.consume(fresh)
        return fresh

    def consume(self, messages: Iterable[dict[str, Any]]) -> None:
        """Delete these messages from the queue (they were received by this peeker)."""
        entries: list[dict[str, str]] = []
        for message in messages:
            held = self._held.pop(message["MessageId"], None)
            if held is not None:
                entries.append({"Id": str(len(entries)), "ReceiptHandle": held.receipt_handle})
        for start in range(0, len(entries), SQS_BATCH):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[start : start + SQS_BATCH])

    def release(self) -> int:
        """Return every held message to the queue at once; how many were returned."""
        held = list(self._held.values())
        self._held.clear()
        self._change_visibility([h.receipt_handle for h in held], 0)
        return len(held)

    @property
    def held_count(self) -> int:
        return len(self._held)

    def _renew_holds(self) -> None:
        now = self.clock.now()
        due = [h for h in self._held.values() if now - h.held_at >= RENEW_AFTER_SECONDS]
        self._change_visibility([h.receipt_handle for h in due], HOLD_SECONDS)
        for hold in due:
            hold.held_at = now

    def _change_visibility(self, handles: list[str], seconds: int) -> None:
        for start in range(0, len(handles), SQS_BATCH):
            chunk = handles[start : start + SQS_BATCH]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for i, handle in enumerate(chunk)
                ],
            )


PEEK_NOTICE = (
    "Peeking: messages are returned to the queue when this command ends; each peek counts as one "
    "receive towards the queue's maxReceiveCount (use --delete to consume them)."
)
