"""Data in the shapes the contracts give (L: the handler's log lines; C2: the idempotency item with its
stored SES record), written into a moto stack, for the trace and replay tests. Built from the contracts,
never from the handler's code."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

from mailflow_cli.context import StackContext

GROUP = "/aws/lambda/mailflow-dev-handler"
HASH_KEY = bytes(range(32))
_ids = itertools.count(1)


def fresh_id() -> str:
    """A new SES message id per use: a module's table, bucket and log group outlive each test."""
    return f"0100019b{next(_ids):04d}trc{time.time_ns() % 10**9:09d}"


def contract_hash(address: str, key: bytes = HASH_KEY) -> str:
    """Contract L, written out: hmac_sha256(key, address.strip().lower()).hexdigest()[:32]."""
    return hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _base(message: str, at: float) -> dict[str, Any]:
    return {
        "level": "INFO",
        "message": message,
        "timestamp": iso(at),
        "service": "mailflow",
        "cold_start": False,
        "function_request_id": "req-1",
        "function_name": "mailflow-dev-handler",
    }


def route(
    app: str,
    outcome: str = "delivered",
    *,
    why: str = "app",
    tag: str | None = None,
    sqs_id: str | None = "sqs-1",
    claim: bool = False,
) -> dict[str, Any]:
    queue = "mailflow-dev-default" if app == "default" else f"mailflow-dev-app-{app}"
    return {
        "app": app,
        "queue": queue,
        "why": why,
        "tag": tag,
        "sqsMessageId": sqs_id if outcome == "delivered" else None,
        "claimCheck": claim,
        "outcome": outcome,
    }


def inbound_line(
    ses_id: str,
    at: float,
    *,
    routes: list[dict[str, Any]],
    outcome: str = "delivered",
    message_id: str = "m1@example.org",
    addresses: tuple[str, ...] = ("alice@example.org", "_app1@example.com"),
    **extra: Any,
) -> dict[str, Any]:
    """Contract L's inbound line."""
    return {
        **_base("inbound email", at),
        "sesMessageId": ses_id,
        "outcome": outcome,
        "apps": [r["app"] for r in routes if r["outcome"] == "delivered"],
        "quarantined": [],
        "duplicates": [],
        "reason": None,
        "mailFrom": "***@example.org",
        "recipients": ["***@example.com"],
        "sizeBytes": 2345,
        "messageBytes": [2600],
        "attachments": 0,
        "claimCheck": False,
        "durationMs": 12.5,
        "addressHashes": " ".join(contract_hash(a) for a in addresses),
        "messageId": message_id,
        "receivedAt": iso(at - 1),
        "rawKey": f"raw/{ses_id}",
        "routes": routes,
        **extra,
    }


def outbound_line(
    correlation_id: str,
    at: float,
    *,
    outcome: str = "sent",
    ses_id: str | None = None,
    retry: bool = False,
    reason: str | None = None,
    app: str = "app1",
    addresses: tuple[str, ...] = ("_app1@example.com", "bob@elsewhere.example"),
) -> dict[str, Any]:
    """Contract L's outbound line."""
    return {
        **_base("outbound email", at),
        "sqsMessageId": f"req-{correlation_id}",
        "correlationId": correlation_id,
        "app": app,
        "outcome": outcome,
        "retry": retry,
        "reason": reason,
        "sesMessageId": ses_id,
        "sender": "***@example.com",
        "recipients": ["***@elsewhere.example"],
        "attachments": 0,
        "addressHashes": " ".join(contract_hash(a) for a in addresses),
        "statusSqsMessageId": f"status-{correlation_id}",
        "durationMs": 30.1,
    }


def event_line(
    event: str,
    ses_id: str,
    correlation_id: str,
    at: float,
    *,
    app: str = "app1",
    outcome: str = "delivered to app queue",
    **extra: Any,
) -> dict[str, Any]:
    """Contract L's feedback line."""
    return {
        **_base("outbound event", at),
        "event": event,
        "sesMessageId": ses_id,
        "app": app,
        "correlationId": correlation_id,
        "addressHashes": contract_hash("bob@elsewhere.example"),
        "outcome": outcome,
        "sqsMessageId": f"evt-{event}-{ses_id}",
        **extra,
    }


def write_lines(
    ctx: StackContext, *lines: dict[str, Any] | str, stream: str = "2026/11/30/[$LATEST]t"
) -> None:
    """Put the lines in the handler's log group (each at the time it carries)."""
    logs = ctx.clients.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=GROUP)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    events = []
    for line in lines:
        if isinstance(line, str):
            events.append({"timestamp": int(time.time() * 1000), "message": line})
        else:
            stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
            events.append({"timestamp": int(stamp * 1000), "message": json.dumps(line, ensure_ascii=False)})
    logs.put_log_events(
        logGroupName=GROUP, logStreamName=stream, logEvents=sorted(events, key=lambda e: e["timestamp"])
    )


def store_hash_key(ctx: StackContext, key: bytes = HASH_KEY) -> None:
    ctx.clients.client("dynamodb").put_item(
        TableName=ctx.names.table,
        Item={"id": {"S": "config#address-hash-key"}, "key": {"S": base64.b64encode(key).decode()}},
    )


def drop_hash_key(ctx: StackContext) -> None:
    ctx.clients.client("dynamodb").delete_item(
        TableName=ctx.names.table, Key={"id": {"S": "config#address-hash-key"}}
    )


def ses_record(
    ses_id: str,
    *,
    recipients: tuple[str, ...] = ("_app1@example.com",),
    source: str = "alice@example.org",
    verdict: str = "PASS",
    virus: str = "PASS",
    dmarc: str | None = None,
    received: str = "2026-11-30T10:00:00.000Z",
) -> dict[str, Any]:
    """The SES record as the handler stores it (contract C2: no headers, commonHeaders only messageId).
    ``dmarc="FAIL"`` comes with the sender domain's policy ``reject``, as SES reports it."""
    record: dict[str, Any] = {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": received,
                "source": source,
                "messageId": ses_id,
                "destination": list(recipients),
                "commonHeaders": {"messageId": "<m1@example.org>"},
            },
            "receipt": {
                "timestamp": received,
                "recipients": list(recipients),
                "spamVerdict": {"status": verdict},
                "virusVerdict": {"status": virus},
                "spfVerdict": {"status": verdict},
                "dkimVerdict": {"status": verdict},
                "dmarcVerdict": {"status": dmarc or verdict},
                "action": {
                    "type": "Lambda",
                    "invocationType": "Event",
                    "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:mailflow-dev-handler",
                },
            },
        },
    }
    if dmarc == "FAIL":
        record["ses"]["receipt"]["dmarcPolicy"] = "reject"
    return record


def remember(
    ctx: StackContext,
    record: dict[str, Any] | None,
    *,
    ses_id: str | None = None,
    status: str = "COMPLETED",
    done: tuple[str, ...] = ("app1",),
) -> None:
    """The email's idempotency item (contract C2), with the stored record unless ``record`` is None."""
    if record is not None:
        ses_id = str(record["ses"]["mail"]["messageId"])
    item: dict[str, Any] = {
        "id": {"S": f"inbound#{ses_id}"},
        "status": {"S": status},
        "expiration": {"N": str(int(time.time()) + 7 * 86400)},
        "data": {
            "S": json.dumps(
                {"done": list(done), "sqsMessageIds": {t: f"sqs-{t}" for t in done if t[0] != "@"}}
            )
        },
    }
    if record is not None:
        item["receipt"] = {"S": json.dumps(record)}
    ctx.clients.client("dynamodb").put_item(TableName=ctx.names.table, Item=item)


def store_raw(ctx: StackContext, ses_id: str, body: bytes = b"Subject: x\r\n\r\nhi\r\n") -> None:
    ctx.clients.client("s3").put_object(Bucket=ctx.names.bucket, Key=f"raw/{ses_id}", Body=body)
