"""What ``mailflow dlq redrive inbound`` may replay, and with which event (contract C2).

Nothing in an inbound DLQ entry is trusted: anyone allowed to send to the queue can write one. An entry
only *names* an email, by its SES message id (``sesMessageId`` of the handler's ``inbound.failure``
record, or the one ``aws:ses`` record of a Lambda asynchronous-failure entry). What is replayed is the
handler's own record of that email: the ``receipt`` attribute of the table item ``inbound#<sesId>``
(read with a consistent GetItem), and only while the raw mail ``raw/<sesId>`` still exists. The handler's
per-target idempotency then delivers only what was not delivered, and the stored verdicts keep the
quarantine decisions.

Two further refusals are the CLI's own second gate, beyond the contract's checks: an entry that carries
a record whose routing or security fields differ from the stored record is a forgery (or describes
another email) and is left alone; and an email whose item is COMPLETED was delivered already, so a
replay would do nothing and the entry is left for the operator to look at.

A replay that failed past Lambda's retries (``mailflow replay``'s event: several records and the replay
marker ``mailflowReplay``) lands as one entry. Its marker must be one the handler accepts (the handler's
own check); then each email is checked as above, except that a COMPLETED one may be re-opened (the
replay's point), and the function is invoked with the stored records of the emails that pass and a
marker restricted to them and to their targets not yet done. Emails that cannot be replayed are listed
and keep the entry in the DLQ; emails that need nothing more (every target the entry names is done, or
the handler quarantined them) do not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.naming import RAW_PREFIX
from mailflow_cli.operate.handler_code import handler_module
from mailflow_cli.operate.stack import MISSING_RESOURCE_CODES, stack_not_deployed

SES_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")
SES_EVENT_SOURCE = "aws:ses"
FAILURE_TYPE = "inbound.failure"
RECORD_KEY_PREFIX = "inbound#"
COMPLETED, INPROGRESS = "COMPLETED", "INPROGRESS"
QUARANTINE_TARGET = "@quarantine"  # the handler's name for the quarantine in an email's done list

# What routing and the security decision read from an SES record; the stored record keeps all of them.
DECISION_FIELDS: tuple[tuple[str, ...], ...] = (
    ("eventSource",),
    ("ses", "mail", "messageId"),
    ("ses", "mail", "source"),
    ("ses", "receipt", "recipients"),
    ("ses", "receipt", "spamVerdict"),
    ("ses", "receipt", "virusVerdict"),
    ("ses", "receipt", "spfVerdict"),
    ("ses", "receipt", "dkimVerdict"),
    ("ses", "receipt", "dmarcVerdict"),
    ("ses", "receipt", "dmarcPolicy"),
)

NOT_AN_INBOUND_ENTRY = (
    "neither the handler's inbound.failure record nor a Lambda asynchronous-failure entry "
    "(an event with one aws:ses record)"
)
NOT_SES = "its record is not an aws:ses record: only SES events are replayed"
INVALID_ID = "it names no valid SES message id (1-200 characters: A-Z a-z 0-9 . _ -)"
BUSY = "the handler is processing it right now: redrive again later"
STAYS_QUARANTINED = "the handler quarantined it: it stays in quarantine"
ALL_DONE = "the handler delivered it to every target the entry names already"


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """The stored record (a consistent GetItem) and the raw mail's existence (HeadObject is authorised
    as s3:GetObject; without s3:ListBucket S3 answers 403 instead of 404 for a missing object)."""
    return (
        allow(scopes.table, "dynamodb:GetItem"),
        allow(scopes.bucket_prefix("RawMail", RAW_PREFIX), "s3:GetObject"),
        allow(scopes.bucket, "s3:ListBucket"),
    )


@dataclass(frozen=True)
class Refusal:
    """Leave the entry in the DLQ, because of ``why``. ``ses_id`` only when it was valid."""

    why: str
    ses_id: str | None = None


@dataclass(frozen=True)
class Settled:
    """An email of a failed replay that needs nothing more, because of ``why``: it does not keep the entry."""

    why: str
    ses_id: str


@dataclass(frozen=True)
class Redrive:
    """What to do with one DLQ entry: invoke the function with ``event`` (None: nothing to invoke). The
    entry is deleted unless an email of it is ``left`` (each with why); ``settled`` emails need nothing."""

    event: dict[str, Any] | None
    left: tuple[Refusal, ...] = ()
    settled: tuple[Settled, ...] = ()


@dataclass(frozen=True)
class NamedEmail:
    """The email an entry names, and the record it carries (a Lambda entry), compared, never replayed."""

    ses_id: str
    carried: dict[str, Any] | None


def _field(record: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and SES_ID.fullmatch(value) is not None and bool(value.strip("."))


def named_email(body: Any) -> NamedEmail | Refusal:
    """The SES id a DLQ entry names; anything else about the entry is refused here."""
    if not isinstance(body, dict):
        return Refusal(NOT_AN_INBOUND_ENTRY)
    carried: dict[str, Any] | None = None
    if body.get("type") == FAILURE_TYPE:
        claimed = body.get("sesMessageId")
    elif isinstance(body.get("Records"), list):
        records = body["Records"]
        if len(records) != 1:
            return Refusal(
                f"a Lambda asynchronous-failure entry holds one SES record; this one holds {len(records)}"
            )
        if not isinstance(records[0], dict) or records[0].get("eventSource") != SES_EVENT_SOURCE:
            return Refusal(NOT_SES)
        carried = records[0]
        claimed = _field(carried, ("ses", "mail", "messageId"))
    else:
        return Refusal(NOT_AN_INBOUND_ENTRY)
    if not valid_id(claimed):
        return Refusal(INVALID_ID)
    return NamedEmail(ses_id=str(claimed), carried=carried)


def stored_record(item: dict[str, Any] | None, ses_id: str) -> dict[str, Any] | Refusal:
    """The handler's record of ``ses_id`` from its table item, if the item holds a usable one."""
    key = RECORD_KEY_PREFIX + ses_id
    if item is None:
        return Refusal(
            f"no trusted record of this email: the table item {key} does not exist "
            "(it expired, or the handler never took the email)",
            ses_id,
        )
    text = item.get("receipt", {}).get("S")
    if not isinstance(text, str):
        return Refusal(
            f"the table item {key} holds no stored SES record (written by a handler older than this CLI)",
            ses_id,
        )
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if (
        not isinstance(record, dict)
        or record.get("eventSource") != SES_EVENT_SOURCE
        or _field(record, ("ses", "mail", "messageId")) != ses_id
    ):
        return Refusal(f"the stored record in {key} is not an aws:ses record of this email", ses_id)
    return record


def done_targets(item: dict[str, Any]) -> tuple[str, ...]:
    """The targets an email's table item lists as done (``@quarantine`` for the quarantine)."""
    try:
        data = json.loads(str(item.get("data", {}).get("S", "{}")))
    except ValueError:
        return ()
    done = data.get("done") if isinstance(data, dict) else None
    return tuple(t for t in done if isinstance(t, str)) if isinstance(done, list) else ()


def differing_fields(carried: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    return [".".join(path) for path in DECISION_FIELDS if _field(carried, path) != _field(stored, path)]


def decide(ctx: StackContext, body: Any) -> Redrive:
    """Replay the stored record of the email ``body`` names (of each email, for a failed replay), or say
    why the entry stays."""
    if isinstance(body, dict) and handler_module("replay").MARKER in body:
        return _decide_replay(ctx, body)
    named = named_email(body)
    if isinstance(named, Refusal):
        return Redrive(None, left=(named,))
    checked = _checked(ctx, named, reopen=False)
    if isinstance(checked, Refusal):
        return Redrive(None, left=(checked,))
    record, _ = checked
    return Redrive({"Records": [record]})


def _decide_replay(ctx: StackContext, body: dict[str, Any]) -> Redrive:
    """A failed replay: each email checked, the function invoked for those that pass, with a marker
    restricted to them and to their targets not yet done."""
    replay = handler_module("replay")
    wrong = replay.problem(body)
    if wrong is not None:
        return Redrive(None, left=(Refusal(f"a replay event the handler would refuse: {wrong}"),))
    targets: dict[str, list[str]] = body[replay.MARKER]["targets"]
    ready: list[tuple[dict[str, Any], list[str]]] = []
    left: list[Refusal] = []
    settled: list[Settled] = []
    for record in body["Records"]:
        ses_id = _field(record, ("ses", "mail", "messageId"))
        if not valid_id(ses_id):
            left.append(Refusal(INVALID_ID))
            continue
        checked = _checked(ctx, NamedEmail(ses_id=ses_id, carried=record), reopen=True)
        if isinstance(checked, Refusal):
            left.append(checked)
            continue
        stored, item = checked
        done = done_targets(item)
        due = [app for app in dict.fromkeys(targets[ses_id]) if app not in done]
        if QUARANTINE_TARGET in done:
            settled.append(Settled(STAYS_QUARANTINED, ses_id))
        elif not due:
            settled.append(Settled(ALL_DONE, ses_id))
        else:
            ready.append((stored, due))
    event = replay.event_for(ready) if ready else None
    return Redrive(event, tuple(left), tuple(settled))


def _checked(
    ctx: StackContext, named: NamedEmail, *, reopen: bool
) -> tuple[dict[str, Any], dict[str, Any]] | Refusal:
    """The stored record and table item of the email ``named``, if it may be replayed: the record is
    there, the record the entry carries (if any) matches it, the email is not COMPLETED (unless a replay
    re-opens it) nor held by an attempt of the handler (a replay waits for it), and its raw mail exists."""
    ses_id = named.ses_id
    item = _table_item(ctx, RECORD_KEY_PREFIX + ses_id)
    record = stored_record(item, ses_id)
    if isinstance(record, Refusal):
        return record
    assert item is not None  # stored_record refuses a missing item
    if named.carried is not None:
        differs = differing_fields(named.carried, record)
        if differs:
            return Refusal(
                "the entry's SES record differs from the handler's stored record of this email in "
                f"{', '.join(differs)}: it is not replayed",
                ses_id,
            )
    status = item.get("status", {}).get("S")
    if status == COMPLETED and not reopen:
        return Refusal(
            "the handler completed this email already (its table item is COMPLETED): a replay would "
            "do nothing",
            ses_id,
        )
    if status == INPROGRESS and reopen:
        return Refusal(BUSY, ses_id)
    missing = _raw_missing(ctx, RAW_PREFIX + ses_id)
    if missing:
        return Refusal(missing, ses_id)
    return record, item


def _table_item(ctx: StackContext, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    table = ctx.names.table
    try:
        response = ctx.clients.client("dynamodb").get_item(
            TableName=table, Key={"id": {"S": key}}, ConsistentRead=True
        )
    except ClientError as exc:
        if error_code(exc) in MISSING_RESOURCE_CODES:
            raise stack_not_deployed(ctx, f"the table {table}") from None
        raise translate_client_error(exc, f"the table {table}") from exc
    item = response.get("Item")
    return dict(item) if item else None


def _raw_missing(ctx: StackContext, key: str) -> str | None:
    """Why the raw mail cannot be replayed (gone, or not readable), or None when it is there."""
    from botocore.exceptions import ClientError

    try:
        ctx.clients.client("s3").head_object(Bucket=ctx.names.bucket, Key=key)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return f"the raw mail {key} is gone (expired or deleted): there is nothing to replay"
        if status == 403 or error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            return (
                f"the raw mail {key} cannot be checked (HeadObject: access denied; without "
                "s3:ListBucket a missing object also looks like this)"
            )
        raise translate_client_error(exc, f"s3://{ctx.names.bucket}/{key}") from exc
    return None
