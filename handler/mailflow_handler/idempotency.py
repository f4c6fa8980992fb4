"""Powertools-compatible idempotency records in DynamoDB.

Item: id (S, partition key), expiration (N, epoch s, the table's TTL attribute), status
(INPROGRESS | COMPLETED | PARTIAL), in_progress_expiration (N, epoch ms), data (S, JSON),
data_expiration (N, the expiration the data was written with), and for an inbound email `receipt`
(S, the trimmed SES record it was first processed from: `mailflow dlq redrive inbound` replays it).

A record covers one unit of work with several side effects (an email's targets; an outbound send and
its status message): `acquire` takes it with one conditional UpdateItem and hands back what a previous
attempt recorded as done (`PARTIAL`), `complete` records the outcome with one UpdateItem. A replay
(`reopen`) may take a COMPLETED record too; it gets the done list the same way. Two writes per
unit of work, whatever the number of side effects; an outbound send adds a third in between (`mark`:
"SES has been asked", which a later attempt that takes a dead attempt's lock over must know). A unit
of work with one side effect whose repetition is harmless (an SES event's message, whose id is
deterministic) uses one read (`completed`) before and one write (`record_completed`) after it instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InProgressError, conditional_failure, is_transient

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
PARTIAL = "PARTIAL"


@dataclass(frozen=True)
class Claim:
    """acquired=False: the record is COMPLETED and `data` is what it recorded. acquired=True: the lock is
    ours; `data` is what an earlier attempt recorded as done (a PARTIAL record, or one whose attempt
    crashed after that), None for a fresh record."""

    key: str
    acquired: bool
    data: dict[str, Any] | None = None
    # No earlier item existed: nothing of this unit of work can have been done before.
    fresh: bool = True
    # The earlier item's status (COMPLETED, PARTIAL, INPROGRESS) and stored `receipt`; None without one.
    status: str | None = None
    receipt: str | None = None


def _text(item: dict[str, Any] | None, name: str) -> str | None:
    value = (item or {}).get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _data(item: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The record's data, unless it was written for a record whose TTL has passed."""
    if not item:
        return None
    raw = item.get("data", {}).get("S")
    try:
        until = int(item.get("data_expiration", item.get("expiration", {})).get("N", "0"))
    except (TypeError, ValueError):
        return None
    if not raw or until < int(now):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class IdempotencyStore:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        ttl_seconds: int,
        in_progress_seconds: int,
        clock: Callable[[], float] = time.time,
        *,
        remaining_millis: Callable[[], int | None] | None = None,
    ) -> None:
        self._ddb = dynamodb
        self._table = table
        self._ttl = ttl_seconds
        self._in_progress = in_progress_seconds
        self._clock = clock
        self._remaining = remaining_millis
        self._mine: dict[str, str] = {}  # key -> the in_progress_expiration this store wrote
        self._ttls: dict[str, int] = {}  # key -> a TTL longer than ttl_seconds, given to acquire()

    def _lock_millis(self) -> int:
        """How long the INPROGRESS lock lasts: the rest of the Lambda invocation when known (the attempt
        cannot outlive it; Powertools does the same), else idempotency.inProgressSeconds."""
        remaining = self._remaining() if self._remaining is not None else None
        return remaining if remaining else self._in_progress * 1000

    def acquire(
        self, key: str, *, receipt: str | None = None, ttl: int | None = None, reopen: bool = False
    ) -> Claim:
        """Take the INPROGRESS lock for `key` (one conditional UpdateItem), or report it COMPLETED.

        Free to take: no record, an expired one, a PARTIAL one, or an INPROGRESS one whose lock expired;
        with `reopen` (a replay) a COMPLETED one too. Raises InProgressError while another attempt holds
        an unexpired lock. `receipt` is stored in the same UpdateItem unless the item already has one
        (the first record of the email is kept); `ttl` (seconds) replaces `ttl_seconds` for this key's
        writes. The claim hands back the earlier item's data, status and receipt (ALL_OLD).
        """
        if ttl is not None:
            self._ttls[key] = ttl
        update = "SET #status = :inprogress, expiration = :exp, in_progress_expiration = :ipe"
        extra: dict[str, Any] = {}
        if receipt is not None:
            update += ", receipt = if_not_exists(receipt, :receipt)"
            extra[":receipt"] = {"S": receipt}
        for _ in range(5):
            now = self._clock()
            ipe = str(int(now * 1000) + self._lock_millis())
            try:
                response = self._ddb.update_item(
                    TableName=self._table,
                    Key={"id": {"S": key}},
                    UpdateExpression=update,
                    ConditionExpression=(
                        "attribute_not_exists(id) OR expiration < :now OR #status = :partial OR "
                        "(#status = :inprogress AND in_progress_expiration < :now_ms)"
                        + (" OR #status = :completed" if reopen else "")
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(int(now))},
                        ":now_ms": {"N": str(int(now * 1000))},
                        ":inprogress": {"S": INPROGRESS},
                        ":partial": {"S": PARTIAL},
                        **({":completed": {"S": COMPLETED}} if reopen else {}),
                        ":exp": {"N": str(int(now) + self._ttl_for(key))},
                        ":ipe": {"N": ipe},
                        **extra,
                    },
                    ReturnValues="ALL_OLD",
                )
                self._mine[key] = ipe
                old = response.get("Attributes")
                return Claim(
                    key=key,
                    acquired=True,
                    data=_data(old, now),
                    fresh=not old,
                    status=_text(old, "status"),
                    receipt=_text(old, "receipt"),
                )
            except Exception as exc:
                if not conditional_failure(exc):
                    raise
            existing = self._ddb.get_item(
                TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True
            ).get("Item")
            if existing is None:
                continue
            status = _text(existing, "status")
            if status == COMPLETED and not reopen:
                return Claim(
                    key=key,
                    acquired=False,
                    data=_data(existing, now),
                    fresh=False,
                    status=status,
                    receipt=_text(existing, "receipt"),
                )
            if status == INPROGRESS:
                raise InProgressError(f"idempotency record {key} is in progress")
        raise InProgressError(f"idempotency record {key} keeps changing")

    def mark(self, key: str, data: dict[str, Any]) -> None:
        """Record `data` on the record this store holds, keeping it INPROGRESS (one conditional
        UpdateItem): what a later attempt that takes the lock over must know, such as "a send with no
        idempotency token of its own may have happened". Raises InProgressError when the lock is no
        longer ours (it expired and another attempt took it): the caller must then do nothing more."""
        mine = self._mine.get(key)
        if mine is None:
            raise InProgressError(f"idempotency record {key} is not held by this attempt")
        expiration = str(int(self._clock()) + self._ttl_for(key))
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="SET #data = :data, data_expiration = :exp",
                ConditionExpression="#status = :inprogress AND in_progress_expiration = :mine",
                ExpressionAttributeNames={"#status": "status", "#data": "data"},
                ExpressionAttributeValues={
                    ":data": {"S": json.dumps(data, separators=(",", ":"))},
                    ":exp": {"N": expiration},
                    ":inprogress": {"S": INPROGRESS},
                    ":mine": {"N": mine},
                },
            )
        except Exception as exc:
            if conditional_failure(exc):
                raise InProgressError(f"idempotency record {key} was taken over by another attempt") from exc
            raise

    def complete(self, key: str, data: dict[str, Any] | None = None, *, partial: bool = False) -> None:
        """Record the outcome: COMPLETED, or PARTIAL (`data` lists what is done; a retry may take the
        record again and skips that). Retried a few times because failing here risks a duplicate later."""
        self._mine.pop(key, None)
        self._write(key, data, partial=partial, mine=None)

    def _write(self, key: str, data: dict[str, Any] | None, *, partial: bool, mine: str | None) -> None:
        """The outcome update; with `mine`, only while the record still holds that lock."""
        condition: dict[str, Any] = {}
        if mine is not None:
            condition = {
                "ConditionExpression": "#status = :inprogress AND in_progress_expiration = :mine",
            }
        now = self._clock()
        expiration = str(int(now) + self._ttl_for(key))
        for attempt in range(3):
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"id": {"S": key}},
                    UpdateExpression=(
                        "SET #status = :status, expiration = :exp, #data = :data, data_expiration = :exp"
                    ),
                    ExpressionAttributeNames={"#status": "status", "#data": "data"},
                    ExpressionAttributeValues={
                        ":status": {"S": PARTIAL if partial else COMPLETED},
                        ":exp": {"N": expiration},
                        ":data": {"S": json.dumps(data or {}, separators=(",", ":"))},
                        **(
                            {":inprogress": {"S": INPROGRESS}, ":mine": {"N": mine}}
                            if mine is not None
                            else {}
                        ),
                    },
                    **condition,
                )
                return
            except Exception as exc:
                if mine is not None and conditional_failure(exc):
                    return  # our lock expired and another attempt holds the record now: leave it alone
                if attempt == 2 or not is_transient(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _ttl_for(self, key: str) -> int:
        return self._ttls.get(key, self._ttl)

    def completed(self, key: str) -> dict[str, Any] | None:
        """The data of `key`'s COMPLETED, unexpired record (one consistent GetItem: a read, no write);
        None when there is none. For a unit of work with one side effect that may be repeated harmlessly
        (its message carries a deterministic id), which `record_completed` marks done afterwards."""
        item = self._ddb.get_item(TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        now = self._clock()
        if not item or item.get("status", {}).get("S") != COMPLETED:
            return None
        try:
            if int(item.get("expiration", {}).get("N", "0")) < int(now):
                return None
        except (TypeError, ValueError):
            return None
        return _data(item, now) or {}

    def record_completed(self, key: str, data: dict[str, Any] | None = None) -> None:
        """One PutItem recording `key` as COMPLETED with `data`, after its side effect (see `completed`)."""
        expiration = str(int(self._clock()) + self._ttl_for(key))
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "id": {"S": key},
                "status": {"S": COMPLETED},
                "expiration": {"N": expiration},
                "data": {"S": json.dumps(data or {}, separators=(",", ":"))},
                "data_expiration": {"N": expiration},
            },
        )

    def release(self, key: str, done: dict[str, Any] | None = None) -> None:
        """After a failed attempt: delete the INPROGRESS record so a retry can start at once, or, when
        some side effects are done (`done`), leave it PARTIAL listing them (a record that must outlive
        the attempt, such as an inbound email's with its `receipt`, passes a `done` that lists nothing).
        Both only while the record still holds this store's own lock: after it expired, another attempt
        may have taken it over."""
        mine = self._mine.pop(key, None)
        if done:
            self._write(key, done, partial=True, mine=mine)
            return
        condition: dict[str, Any] = {}
        if mine is not None:
            condition = {
                "ConditionExpression": "#status = :inprogress AND in_progress_expiration = :mine",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":inprogress": {"S": INPROGRESS}, ":mine": {"N": mine}},
            }
        try:
            self._ddb.delete_item(TableName=self._table, Key={"id": {"S": key}}, **condition)
        except Exception:
            return


class NoIdempotency:
    """Stand-in that never deduplicates (benchmarks, or a deployment without a table)."""

    def acquire(
        self, key: str, *, receipt: str | None = None, ttl: int | None = None, reopen: bool = False
    ) -> Claim:
        return Claim(key=key, acquired=True)

    def mark(self, key: str, data: dict[str, Any]) -> None:
        return None

    def complete(self, key: str, data: dict[str, Any] | None = None, *, partial: bool = False) -> None:
        return None

    def release(self, key: str, done: dict[str, Any] | None = None) -> None:
        return None

    def completed(self, key: str) -> dict[str, Any] | None:
        return None

    def record_completed(self, key: str, data: dict[str, Any] | None = None) -> None:
        return None


def store_for(deps: Any) -> IdempotencyStore | NoIdempotency:
    if deps.dynamodb is None:
        return NoIdempotency()
    cfg = deps.config
    from .observability import remaining_millis

    return IdempotencyStore(
        deps.dynamodb,
        cfg.idempotency_table,
        cfg.idempotency_ttl_seconds,
        cfg.idempotency_in_progress_seconds,
        remaining_millis=remaining_millis,
    )
