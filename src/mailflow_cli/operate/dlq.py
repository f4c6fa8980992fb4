"""``mailflow dlq``: what failed and why, moving it back (redrive), or throwing it away (purge).

A DLQ body is never trusted to choose an action: anyone allowed to send to a DLQ can write one.

Redrive of the apps and outbound DLQs first asks SQS to move the messages back to their source queues
(StartMessageMoveTask: SQS returns each message it dead-lettered to the queue it came from). Where that
API is unavailable (an endpoint without it, a missing permission), it copies them itself: receive, send
to the source queue, delete. The source queue is the message's ``DeadLetterQueueSourceArn``, which only
SQS sets, and only when it is one of this stack's queues that dead-letter into that DLQ; anything else
(the handler's failure records, messages sent to the DLQ directly) stays, with the reason.

The inbound DLQ holds SES events the handler could not process (Lambda's asynchronous failures, or the
handler's own ``inbound.failure`` records). Redrive re-invokes the function with the handler's stored
record of the email an entry names (:mod:`mailflow_cli.operate.inbound_replay`), then deletes the entry;
entries it cannot replay stay, with the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code
from mailflow_cli.context import StackContext
from mailflow_cli.errors import AwsError
from mailflow_cli.operate import inbound_replay
from mailflow_cli.operate import peek as peek_module
from mailflow_cli.operate.peek import QueuePeeker
from mailflow_cli.operate.render import MessageView, parse_body, view_message
from mailflow_cli.operate.stack import QueueRef, describe, queue_url
from mailflow_cli.operate.timing import Clock

SAMPLE_LIMIT = 50
DRAIN_WAIT_SECONDS = 1
SOURCE_ARN_ATTRIBUTE = "DeadLetterQueueSourceArn"  # set by SQS alone, when it dead-letters a message


def summary_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """:func:`summarise`: depths and a peek at the dead-letter queues."""
    dead_letter = scopes.dead_letter_queues
    return (allow(dead_letter, "sqs:GetQueueAttributes"), *peek_permissions(scopes))


def peek_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """:func:`peek`: the messages stay in the dead-letter queues."""
    return peek_module.permissions(scopes.dead_letter_queues, consume=False)


def purge_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.dead_letter_queues, "sqs:GetQueueAttributes", "sqs:PurgeQueue"),)


def redrive_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """:func:`redrive`. A move task needs, beyond sqs:StartMessageMoveTask, to read, delete and describe
    the DLQ's messages and to send each to its source queue, as copying them back does; an inbound
    replay reads the stored record and invokes the function."""
    dead_letter = scopes.dead_letter_queues
    return (
        allow(dead_letter, "sqs:StartMessageMoveTask", "sqs:GetQueueAttributes"),
        *peek_module.permissions(dead_letter, consume=True),
        allow(scopes.queues, "sqs:SendMessage"),
        *inbound_replay.permissions(scopes),
        allow(scopes.function, "lambda:InvokeFunction"),
    )


@dataclass(frozen=True)
class DlqSummary:
    queue: QueueRef
    visible: int
    in_flight: int
    oldest_sent_at: float | None
    reasons: Counter[str]
    sampled: int

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "queue": self.queue.label,
            "name": self.queue.name,
            "messages": self.visible,
            "inFlight": self.in_flight,
            "oldestAgeSeconds": None if self.oldest_sent_at is None else round(now - self.oldest_sent_at),
            "reasons": dict(self.reasons.most_common()),
            "sampled": self.sampled,
        }


@dataclass(frozen=True)
class LeftEntry:
    """A DLQ entry the redrive left in place: its SQS message id, why, and the email it names (inbound,
    only when the id was valid)."""

    message_id: str
    why: str
    ses_message_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        entry = {"messageId": self.message_id, "why": self.why}
        return entry if self.ses_message_id is None else {**entry, "sesMessageId": self.ses_message_id}


@dataclass
class RedriveResult:
    queue: QueueRef
    method: str
    moved: Counter[str] = field(default_factory=Counter)
    left: list[LeftEntry] = field(default_factory=list)
    task_handle: str | None = None
    fallback_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue.label,
            "method": self.method,
            "moved": dict(self.moved),
            "left": [entry.as_dict() for entry in self.left],
            "taskHandle": self.task_handle,
            "fallbackReason": self.fallback_reason,
        }


def failure_label(view: MessageView) -> str:
    """What a DLQ entry is about, for grouping: the recorded reason, or the kind of message and its app."""
    if view.reason:
        return view.reason
    parts = [view.kind]
    if view.app:
        parts.append(f"app={view.app}")
    return " ".join(parts)


def peek(sqs: Any, queue: QueueRef, clock: Clock, limit: int) -> list[MessageView]:
    peeker = QueuePeeker(sqs=sqs, queue_url=queue.url, clock=clock)
    views: list[MessageView] = []
    try:
        while len(views) < limit:
            batch = peeker.receive(
                wait_seconds=min(DRAIN_WAIT_SECONDS, clock.receive_wait_seconds),
                max_messages=limit - len(views),
            )
            if not batch:
                break
            views.extend(view_message(message) for message in batch)
    finally:
        peeker.release()
    return views


def summarise(sqs: Any, queue: QueueRef, clock: Clock, sample_limit: int = SAMPLE_LIMIT) -> DlqSummary:
    attributes = describe(
        sqs, queue.url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    visible = int(attributes.get("ApproximateNumberOfMessages", 0))
    views = peek(sqs, queue, clock, sample_limit) if visible else []
    sent = [view.sent_at for view in views if view.sent_at is not None]
    return DlqSummary(
        queue=queue,
        visible=visible,
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        oldest_sent_at=min(sent) if sent else None,
        reasons=Counter(failure_label(view) for view in views),
        sampled=len(views),
    )


def purge(sqs: Any, queue: QueueRef) -> int:
    visible = int(
        describe(sqs, queue.url, ["ApproximateNumberOfMessages"]).get("ApproximateNumberOfMessages", 0)
    )
    sqs.purge_queue(QueueUrl=queue.url)
    return visible


# redrive ------------------------------------------------------------------------------------------------
def redrive(ctx: StackContext, queue: QueueRef, clock: Clock, *, use_move_task: bool = True) -> RedriveResult:
    if queue.kind == "inbound-dlq":
        return _reinvoke_inbound(ctx, queue, clock)
    fallback_reason = None
    if use_move_task:
        handle, fallback_reason = _start_move_task(ctx, queue)
        if handle is not None:
            return RedriveResult(queue=queue, method="move-task", task_handle=handle)
    result = _copy_back(ctx, queue, clock)
    result.fallback_reason = fallback_reason
    return result


def _start_move_task(ctx: StackContext, queue: QueueRef) -> tuple[str | None, str | None]:
    return start_move_task(single_try_client(ctx, "sqs"), ctx.names.queue_arn(queue.name))


def single_try_client(ctx: StackContext, service: str) -> Any:
    """A client that does not retry: an API the endpoint lacks fails at once instead of after backoff."""
    from botocore.config import Config

    target = ctx.clients.target
    return ctx.clients.session().client(
        service,  # type: ignore[call-overload]
        config=Config(region_name=target.region, retries={"mode": "standard", "max_attempts": 1}),
        endpoint_url=target.endpoint_url,
    )


# Error codes meaning "this endpoint or these credentials cannot use StartMessageMoveTask": copying the
# messages back is the way round them. Any other error (throttling, a move task already running on the
# queue, a missing queue) stops the redrive instead: copying meanwhile would race the move task.
MOVE_TASK_UNAVAILABLE = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidAction",
        "NotImplemented",
    }
)


def start_move_task(sqs: Any, dlq_arn: str) -> tuple[str | None, str | None]:
    """The task handle, or why the move-task API could not be used (then the caller copies instead)."""
    from botocore.exceptions import ClientError

    try:
        response = sqs.start_message_move_task(SourceArn=dlq_arn)
    except ClientError as exc:
        if error_code(exc) in MOVE_TASK_UNAVAILABLE:
            return None, f"StartMessageMoveTask is unavailable here ({_describe_failure(exc)})"
        message = str(exc.response.get("Error", {}).get("Message", "")).strip()
        raise AwsError(
            f"StartMessageMoveTask failed for {dlq_arn.rsplit(':', 1)[-1]}: {error_code(exc) or 'error'}"
            + (f": {message}" if message else ""),
            hint="nothing was moved; if a move task is already running, wait for it "
            f"(aws sqs list-message-move-tasks --source-arn {dlq_arn}), otherwise run the redrive again",
        ) from exc
    return str(response["TaskHandle"]), None


def _describe_failure(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error_code(exc) or 'error'}, HTTP {status}"
    return type(exc).__name__


def _copy_back(ctx: StackContext, queue: QueueRef, clock: Clock) -> RedriveResult:
    sqs = ctx.clients.client("sqs")
    result = RedriveResult(queue=queue, method="copy")
    sources = stack_sources(ctx, queue)
    urls: dict[str, str] = {}
    peeker = QueuePeeker(sqs=sqs, queue_url=queue.url, clock=clock)
    try:
        while True:
            batch = peeker.receive(wait_seconds=min(DRAIN_WAIT_SECONDS, clock.receive_wait_seconds))
            if not batch:
                break
            for message in batch:
                source_arn = message.get("Attributes", {}).get(SOURCE_ARN_ATTRIBUTE)
                destination = sources.get(source_arn) if isinstance(source_arn, str) else None
                if destination is None:
                    result.left.append(LeftEntry(message["MessageId"], _not_returned(source_arn, queue)))
                    continue
                if destination not in urls:
                    urls[destination] = queue_url(ctx, destination)
                _send_back(sqs, urls[destination], destination, message)
                peeker.consume([message])
                result.moved[destination] += 1
    finally:
        peeker.release()
    return result


QUEUE_POLICY_DENIALS = frozenset(
    {"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"}
)


def _send_back(sqs: Any, url: str, destination: str, message: dict[str, Any]) -> None:
    """Copy ``message`` to its source queue. The queue policies of the events queue and of an app queue
    whose app names its principals let only the stack's own writers and ``security.operatorPrincipals``
    send; anyone else is denied, and the message stays in the DLQ (returned when the peek ends)."""
    from botocore.exceptions import ClientError

    try:
        sqs.send_message(
            QueueUrl=url, MessageBody=message["Body"], MessageAttributes=_copyable_attributes(message)
        )
    except ClientError as exc:
        if error_code(exc) not in QUEUE_POLICY_DENIALS:
            raise
        raise AwsError(
            f"copying the messages back to {destination} was denied ({error_code(exc)}); the messages not "
            "copied yet stay in the dead-letter queue",
            hint="the queue's policy lets only the stack's own writers and security.operatorPrincipals "
            "send to it: redrive as a principal listed there (or add yours, and deploy)",
        ) from exc


def stack_sources(ctx: StackContext, queue: QueueRef) -> dict[str, str]:
    """ARN -> name of this stack's queues whose redrive policy moves messages into ``queue``."""
    names = ctx.names
    if queue.kind == "outbound-dlq":
        sources = [names.outbound_queue]
    elif queue.kind == "events-dlq":
        sources = [names.events_queue]
    else:
        sources = [names.default_queue, *(names.app_queue(app) for app in ctx.config.app_names)]
    return {names.queue_arn(name): name for name in sources}


def _not_returned(source_arn: object, queue: QueueRef) -> str:
    if not isinstance(source_arn, str) or not source_arn:
        return (
            "SQS did not dead-letter this message (it has no DeadLetterQueueSourceArn: a handler failure "
            "record, or a message sent to the DLQ directly); only messages SQS moved here go back"
        )
    return (
        f"its source queue {source_arn} is not one of this stack's queues that dead-letter into "
        f"{queue.name} (an app removed from the config?)"
    )


def _copyable_attributes(message: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        kept = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        if "StringValue" in kept or "BinaryValue" in kept:
            copied[name] = kept
    return copied


def _reinvoke_inbound(ctx: StackContext, queue: QueueRef, clock: Clock) -> RedriveResult:
    sqs = ctx.clients.client("sqs")
    lambda_client = ctx.clients.client("lambda")
    result = RedriveResult(queue=queue, method="reinvoke")
    peeker = QueuePeeker(sqs=sqs, queue_url=queue.url, clock=clock)
    try:
        while True:
            batch = peeker.receive(wait_seconds=min(DRAIN_WAIT_SECONDS, clock.receive_wait_seconds))
            if not batch:
                break
            for message in batch:
                decision = inbound_replay.decide(ctx, parse_body(str(message.get("Body", ""))))
                if isinstance(decision, inbound_replay.Refusal):
                    result.left.append(LeftEntry(message["MessageId"], decision.why, decision.ses_id))
                    continue
                lambda_client.invoke(
                    FunctionName=ctx.names.function,
                    InvocationType="Event",
                    Payload=json.dumps(decision.event).encode(),
                )
                peeker.consume([message])
                result.moved[ctx.names.function] += 1
    finally:
        peeker.release()
    return result
