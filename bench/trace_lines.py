"""Contract L's ``inbound email`` line for the trace benchmark (the shape the handler writes)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

KEY = bytes(range(32))


def _hash(address: str) -> str:
    return hmac.new(KEY, address.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def inbound_line(index: int, at_ms: int) -> dict[str, Any]:
    ses_id = f"ses-{index:05d}"
    stamp = (
        datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    sender = f"sender-{index:05d}@outside.example"
    return {
        "level": "INFO", "message": "inbound email", "timestamp": stamp, "service": "mailflow",
        "cold_start": False, "function_request_id": f"req-{index:05d}", "sesMessageId": ses_id,
        "outcome": "delivered", "apps": ["app1"], "quarantined": [], "duplicates": [], "reason": None,
        "mailFrom": "***@outside.example", "recipients": ["***@example.com"], "sizeBytes": 4096,
        "messageBytes": [5000], "attachments": 0, "claimCheck": False, "durationMs": 20.0,
        "addressHashes": f"{_hash(sender)} {_hash('_app1@example.com')}",
        "messageId": f"m-{index:05d}@example.org", "receivedAt": stamp, "rawKey": f"raw/{ses_id}",
        "routes": [{"app": "app1", "queue": "mailflow-bench-app-app1", "why": "app", "tag": None,
                    "sqsMessageId": f"sqs-{index:05d}", "claimCheck": False, "outcome": "delivered"}],
    }  # fmt: skip
