"""Powertools-compatible idempotency records in DynamoDB.

Item: id (S, partition key), expiration (N, epoch s, the table's TTL attribute), status
(INPROGRESS | COMPLETED), in_progress_expiration (N, epoch ms), data (S, JSON).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InProgressError, is_transient

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class Claim:
    key: str
    acquired: bool
    data: dict[str, Any] | None = None


def _conditional_failure(exc: BaseException) -> bool:
    response: Any = getattr(exc, "response", None)
    return isinstance(response, dict) and (
        response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


class IdempotencyStore:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        ttl_seconds: int,
        in_progress_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = dynamodb
        self._table = table
        self._ttl = ttl_seconds
        self._in_progress = in_progress_seconds
        self._clock = clock

    def acquire(self, key: str) -> Claim:
        """Take the INPROGRESS lock for `key`, or report that it is already COMPLETED.

        Raises InProgressError while another attempt holds an unexpired lock.
        """
        now = self._clock()
        item = {
            "id": {"S": key},
            "expiration": {"N": str(int(now) + self._ttl)},
            "status": {"S": INPROGRESS},
            "in_progress_expiration": {"N": str(int(now * 1000) + self._in_progress * 1000)},
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(id) OR expiration < :now OR "
                    "(#status = :inprogress AND in_progress_expiration < :now_ms)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":inprogress": {"S": INPROGRESS},
                },
            )
            return Claim(key=key, acquired=True)
        except Exception as exc:
            if not _conditional_failure(exc):
                raise
        existing = self._ddb.get_item(TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        if existing is None:
            return self.acquire(key)
        if existing.get("status", {}).get("S") == COMPLETED:
            raw = existing.get("data", {}).get("S")
            data = json.loads(raw) if raw else None
            return Claim(key=key, acquired=False, data=data if isinstance(data, dict) else None)
        raise InProgressError(f"idempotency record {key} is in progress")

    def complete(self, key: str, data: dict[str, Any] | None = None) -> None:
        """Mark `key` COMPLETED; retried a few times because failing here risks a duplicate later."""
        now = self._clock()
        for attempt in range(3):
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"id": {"S": key}},
                    UpdateExpression="SET #status = :completed, expiration = :exp, #data = :data",
                    ExpressionAttributeNames={"#status": "status", "#data": "data"},
                    ExpressionAttributeValues={
                        ":completed": {"S": COMPLETED},
                        ":exp": {"N": str(int(now) + self._ttl)},
                        ":data": {"S": json.dumps(data or {}, separators=(",", ":"))},
                    },
                )
                return
            except Exception as exc:
                if attempt == 2 or not is_transient(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def release(self, key: str) -> None:
        """Delete an INPROGRESS record after a failed attempt so a retry can start at once."""
        try:
            self._ddb.delete_item(TableName=self._table, Key={"id": {"S": key}})
        except Exception:
            return


class NoIdempotency:
    """Stand-in that never deduplicates (benchmarks, or a deployment without a table)."""

    def acquire(self, key: str) -> Claim:
        return Claim(key=key, acquired=True)

    def complete(self, key: str, data: dict[str, Any] | None = None) -> None:
        return None

    def release(self, key: str) -> None:
        return None


def store_for(deps: Any) -> IdempotencyStore | NoIdempotency:
    if deps.dynamodb is None:
        return NoIdempotency()
    cfg = deps.config
    return IdempotencyStore(
        deps.dynamodb, cfg.idempotency_table, cfg.idempotency_ttl_seconds, cfg.idempotency_in_progress_seconds
    )
