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
        # SES sending paused for the account or configuration set: account-wide, lifted by an operator,
        # not a fault of the message; retried (the request ends in the outbound DLQ if it lasts).
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


def conditional_failure(exc: BaseException) -> bool:
    """True for DynamoDB's ConditionalCheckFailedException (a condition expression did not hold)."""
    return is_aws_error(exc) and error_code(exc) == "ConditionalCheckFailedException"


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
    return isinstance(exc, _network_errors())


_NETWORK: tuple[type[BaseException], ...] | None = None


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have reached the service and been acted on: the connection broke or
    timed out after the request was sent (a read timeout, a closed connection, a cut-off response).
    Connect failures are not in this set: nothing was sent."""
    try:
        from botocore import exceptions as bce
    except ImportError:  # pragma: no cover - botocore is always present on Lambda
        return False
    return isinstance(
        exc,
        (
            bce.ReadTimeoutError,
            bce.ConnectionClosedError,
            bce.ResponseStreamingError,
            bce.IncompleteReadError,
        ),
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    """The botocore errors that mean the network failed, not the request: connection refused/reset or
    timed out, a read timeout, a connection closed mid-response, a truncated body. Other BotoCoreErrors
    (a generic HTTPClientError such as a header value botocore cannot encode, ParamValidationError,
    NoRegionError, NoCredentialsError) fail the same way on every retry, so they are permanent."""
    global _NETWORK  # noqa: PLW0603
    if _NETWORK is None:
        try:
            from botocore import exceptions as bce
        except ImportError:  # pragma: no cover - botocore is always present on Lambda
            _NETWORK = ()
            return _NETWORK
        _NETWORK = (
            bce.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError
            bce.ReadTimeoutError,
            bce.ConnectionClosedError,
            bce.ResponseStreamingError,
            bce.IncompleteReadError,
        )
    return _NETWORK


def is_aws_error(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "response", None), dict)
