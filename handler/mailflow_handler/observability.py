"""Structured JSON logs and CloudWatch Embedded Metric Format, Powertools-compatible field names."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}

_state: dict[str, Any] = {"cold_start": True, "request_id": None, "function_name": None}


def service_name() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME", "mailflow")


def namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Mailflow")


def redact(address: str | None) -> str:
    """`someone@example.com` -> `***@example.com`; anything without a domain -> `***`."""
    if not address:
        return "***"
    _, at, domain = address.rpartition("@")
    return f"***@{domain.lower()}" if at and domain else "***"


def current_request_id() -> str | None:
    """The Lambda request id of the current invocation (None outside Lambda)."""
    value = _state.get("request_id")
    return value if isinstance(value, str) and value else None


def remaining_millis() -> int | None:
    """What is left of the current invocation (`context.get_remaining_time_in_millis()`), if known."""
    getter = getattr(_state.get("context"), "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        value = getter()
    except Exception:
        return None
    return value if isinstance(value, int) and value > 0 else None


def start_invocation(context: Any) -> bool:
    """Record the request id; returns whether this invocation is the container's cold start."""
    cold = bool(_state["cold_start"])
    _state["cold_start"] = False
    _state["request_id"] = getattr(context, "aws_request_id", None)
    _state["context"] = context
    _state["function_name"] = getattr(context, "function_name", None)
    _state["invocation_cold"] = cold
    return cold


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Logger:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _threshold(self) -> int:
        return _LEVELS.get(os.environ.get("MAILFLOW_LOG_LEVEL", "INFO").upper(), 20)

    def log(self, level: str, message: str, **fields: Any) -> None:
        if _LEVELS[level] < self._threshold():
            return
        record: dict[str, Any] = {
            "level": level,
            "message": message,
            "timestamp": _now_iso(),
            "service": service_name(),
            "cold_start": bool(_state.get("invocation_cold", False)),
            "function_request_id": _state["request_id"],
        }
        if _state["function_name"]:
            record["function_name"] = _state["function_name"]
        record.update(fields)
        print(json.dumps(record, default=str, ensure_ascii=False), file=self._stream or sys.stdout)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)

    def debug(self, message: str, **fields: Any) -> None:
        self.log("DEBUG", message, **fields)


logger = Logger()


class Metrics:
    """Accumulates metrics during an invocation and prints one EMF document on flush, only when the stack
    asks for custom metrics (`observability.metrics`): each one costs money a month, and the log lines
    carry the same counts for Logs Insights."""

    def __init__(self, *, enabled: bool = False) -> None:
        self.enabled = enabled
        self._values: dict[str, float] = {}
        self._units: dict[str, str] = {}

    def add(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self._values[name] = self._values.get(name, 0) + value
        self._units[name] = unit

    def document(self) -> dict[str, Any] | None:
        if not self._values:
            return None
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace(),
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": n, "Unit": self._units[n]} for n in self._values],
                    }
                ],
            },
            "service": service_name(),
        }
        doc.update(self._values)
        return doc

    def flush(self, stream: TextIO | None = None) -> None:
        doc = self.document() if self.enabled else None
        if doc is not None:
            print(json.dumps(doc), file=stream or sys.stdout)
        self._values.clear()
        self._units.clear()
