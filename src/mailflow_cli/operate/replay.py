"""``mailflow replay``: the raw mail still in ``raw/`` in a window, run again through the current routing.

Two passes, both paginated and with bounded memory:

1. **Plan** (read-only; all that ``--dry-run`` does): ListObjectsV2 on ``raw/`` (1,000 keys a page;
   objects whose LastModified is in the window), then for each page the emails' idempotency items with
   BatchGetItem (100 keys a call, concurrently), then :func:`replay_plan.plan_email` for each. Only the
   compact plan is kept (id, targets), never the records.
2. **Deliver** (after the confirmation): the planned emails' items are read again, each plan is made
   again and cut to the targets the first pass showed (so nothing the user was not shown is delivered,
   and a target delivered in between is not sent twice), and the function is invoked asynchronously
   with the stored records: several records per invocation, each payload under Lambda's 256 KB limit
   for asynchronous invocations, plus the replay marker (``mailflowReplay``: version and, per SES id,
   the targets) that makes the handler re-open the email's COMPLETED record and deliver to those
   targets only; the handler's per-target idempotency keeps every delivered target from receiving it
   twice, with the same deterministic message ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.deploy.handlers.base import fan_out
from mailflow_cli.errors import AwsError, UsageError
from mailflow_cli.naming import RAW_PREFIX
from mailflow_cli.operate.durations import parse_duration
from mailflow_cli.operate.handler_code import handler_module
from mailflow_cli.operate.inbound_replay import RECORD_KEY_PREFIX, stored_record
from mailflow_cli.operate.replay_plan import DELIVER, EmailPlan, Router, plan_email
from mailflow_cli.operate.stack import MISSING_RESOURCE_CODES, stack_not_deployed
from mailflow_cli.operate.timing import Clock

BATCH_GET_KEYS = 100  # BatchGetItem's limit per call
MAX_INVOKE_BYTES = 240 * 1024  # under Lambda's 256 KB for asynchronous invocations, with room to spare
MAX_RECORDS_PER_INVOKE = 25  # one invocation processes its records in turn, within the function's timeout
BATCH_GET_ATTEMPTS = 8


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment.timestamp() < self.end


def parse_point(text: str, option: str, now: float) -> float:
    """A time given as a duration ago (``2h``) or an ISO 8601 time (``2026-11-30T14:00:00Z``)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return now - parse_duration(text, option=option)
        except UsageError:
            raise UsageError(
                f"{option}: {text!r} is neither a duration nor a time",
                hint="use a duration ago (10m, 2h, 1d) or an ISO 8601 time (2026-11-30T14:00:00Z)",
            ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def window_of(since: str, until: str | None, now: float) -> Window:
    start = parse_point(since, "--since", now)
    end = parse_point(until, "--until", now) if until else now
    if start >= end:
        raise UsageError("--since must be before --until", hint="for example: --since 3h --until 1h")
    return Window(start, end)


@dataclass
class ReplayPlan:
    window: Window
    emails: list[EmailPlan] = field(default_factory=list)
    listed: int = 0  # raw objects looked at (the whole prefix: S3 lists by key, not by time)

    def per_app(self) -> Counter[str]:
        return Counter(app for email in self.emails if email.category == DELIVER for app in email.targets)

    def of(self, category: str) -> list[EmailPlan]:
        return [email for email in self.emails if email.category == category]


@dataclass
class Delivery:
    invocations: int = 0
    emails: int = 0
    per_app: Counter[str] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)  # planned, but nothing left to deliver now


def raw_ids_in(ctx: StackContext, window: Window) -> Iterator[list[str]]:
    """The SES ids under ``raw/`` whose object was stored in the window, one page (<= 1,000) at a time."""
    from botocore.exceptions import ClientError

    pages = (
        ctx.clients.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=ctx.names.bucket, Prefix=RAW_PREFIX)
    )
    try:
        for page in pages:
            contents = page.get("Contents", [])
            yield [obj["Key"][len(RAW_PREFIX) :] for obj in contents if window.holds(obj["LastModified"])]
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise stack_not_deployed(ctx, f"the bucket {ctx.names.bucket}") from None
        raise translate_client_error(exc, f"s3://{ctx.names.bucket}/{RAW_PREFIX}") from exc


def items_of(ctx: StackContext, ses_ids: list[str], clock: Clock) -> dict[str, dict[str, Any]]:
    """The idempotency items of ``ses_ids`` by SES id (consistent reads; BatchGetItem, 100 keys a call,
    calls concurrently; unprocessed keys are asked for again with backoff)."""
    chunks = [ses_ids[i : i + BATCH_GET_KEYS] for i in range(0, len(ses_ids), BATCH_GET_KEYS)]
    found: dict[str, dict[str, Any]] = {}
    for part in fan_out(lambda chunk: _batch_get(ctx, chunk, clock), chunks):
        found.update(part)
    return found


def _batch_get(ctx: StackContext, ses_ids: list[str], clock: Clock) -> dict[str, dict[str, Any]]:
    from botocore.exceptions import ClientError

    table = ctx.names.table
    dynamodb = ctx.clients.client("dynamodb")
    keys: list[dict[str, Any]] = [
        {"id": {"S": RECORD_KEY_PREFIX + ses_id}} for ses_id in dict.fromkeys(ses_ids)
    ]
    found: dict[str, dict[str, Any]] = {}
    for attempt in range(BATCH_GET_ATTEMPTS):
        try:
            response = dynamodb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        except ClientError as exc:
            if error_code(exc) in MISSING_RESOURCE_CODES:
                raise stack_not_deployed(ctx, f"the table {table}") from None
            raise translate_client_error(exc, f"the table {table}") from exc
        for item in response.get("Responses", {}).get(table, []):
            found[str(item["id"]["S"])[len(RECORD_KEY_PREFIX) :]] = item
        keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
        if not keys:
            return found
        clock.sleep(min(0.05 * 2**attempt, 2.0))
    raise AwsError(
        f"the table {table} left {len(keys)} key(s) unprocessed after {BATCH_GET_ATTEMPTS} tries",
        hint="the table is throttled: wait a minute and run replay again",
    )


def plan(ctx: StackContext, window: Window, router: Router, only_app: str | None, clock: Clock) -> ReplayPlan:
    result = ReplayPlan(window)
    for ses_ids in raw_ids_in(ctx, window):
        result.listed += len(ses_ids)
        if not ses_ids:
            continue
        items = items_of(ctx, ses_ids, clock)
        result.emails.extend(plan_email(ses_id, items.get(ses_id), router, only_app) for ses_id in ses_ids)
    return result


def deliver(
    ctx: StackContext, shown: ReplayPlan, router: Router, only_app: str | None, clock: Clock
) -> Delivery:
    """Invoke the function for the emails ``shown`` plans to deliver, never to more targets than shown."""
    delivery = Delivery()
    planned = [email for email in shown.emails if email.category == DELIVER]
    for first in range(0, len(planned), BATCH_GET_KEYS):
        chunk = planned[first : first + BATCH_GET_KEYS]
        items = items_of(ctx, [email.ses_id for email in chunk], clock)
        ready: list[tuple[dict[str, Any], list[str]]] = []
        for email in chunk:
            now = plan_email(email.ses_id, items.get(email.ses_id), router, only_app)
            targets = [app for app in now.targets if app in email.targets]
            record = stored_record(items.get(email.ses_id), email.ses_id)
            if now.category != DELIVER or not targets or not isinstance(record, dict):
                delivery.dropped.append(email.ses_id)
                continue
            ready.append((record, targets))
        payloads = list(_payloads(ready))
        fan_out(lambda payload: _invoke(ctx, payload), payloads)
        delivery.invocations += len(payloads)
        for _, targets in ready:
            delivery.emails += 1
            delivery.per_app.update(targets)
    return delivery


def _payloads(ready: list[tuple[dict[str, Any], list[str]]]) -> Iterator[bytes]:
    """The invocation payloads: records in order, at most MAX_RECORDS_PER_INVOKE and MAX_INVOKE_BYTES each."""
    batch: list[tuple[dict[str, Any], list[str]]] = []
    for entry in ready:
        if batch and (
            len(batch) == MAX_RECORDS_PER_INVOKE or len(_event([*batch, entry])) > MAX_INVOKE_BYTES
        ):
            yield _event(batch)
            batch = []
        batch.append(entry)
    if batch:
        yield _event(batch)


def _event(batch: list[tuple[dict[str, Any], list[str]]]) -> bytes:
    """The replay event (the handler's own shape): the stored records and, per SES id, their targets."""
    event = handler_module("replay").event_for(batch)
    return json.dumps(event, separators=(",", ":")).encode()


def _invoke(ctx: StackContext, payload: bytes) -> None:
    from botocore.exceptions import ClientError

    function = ctx.names.function
    try:
        ctx.clients.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    except ClientError as exc:
        if error_code(exc) in MISSING_RESOURCE_CODES:
            raise stack_not_deployed(ctx, f"the function {function}") from None
        raise translate_client_error(exc, f"the function {function}") from exc
