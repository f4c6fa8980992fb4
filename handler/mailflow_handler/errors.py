"""Error taxonomy: transient errors are retried by AWS, permanent ones end in a DLQ or a failed status."""

from __future__ import annotations

from typing import Any

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "AccountSendingPausedException",
        "SendingPausedException",
        "TransactionInProgressException",
    }
)


class MailflowError(Exception):
    """Base class; `reason` is a stable machine-readable code."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TransientError(MailflowError):
    reason = "transient"


class PermanentError(MailflowError):
    reason = "permanent"


class UnsupportedEventError(PermanentError):
    reason = "unsupported_event"


class InProgressError(TransientError):
    reason = "in_progress"


def error_code(exc: BaseException) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: AWS throttling/5xx, network failures, our own TransientError."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, PermanentError):
        return False
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        if error_code(exc) in _TRANSIENT_CODES:
            return True
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and status >= 500
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - botocore is always present on Lambda
        return False
    return isinstance(exc, BotoCoreError)


def is_aws_error(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "response", None), dict)
