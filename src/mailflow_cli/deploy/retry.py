"""Retries for the transient states botocore's retry mode and waiters do not cover.

Lambda rejects a role for a few seconds after IAM creates it, event source mappings are briefly
"in use", and a function refuses changes while an update is in progress. The wait and sleep are
injectable so tests never sleep.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from mailflow_cli.aws import error_code

T = TypeVar("T")

# Right after IAM creates or changes the role, Lambda may still see it as missing or without its policy.
_ROLE_NOT_ASSUMABLE = re.compile(
    r"role.*cannot be assumed|execution role does not have permissions", re.IGNORECASE
)
_IN_PROGRESS = re.compile(r"in progress|pending", re.IGNORECASE)


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))
    return ""


def role_not_yet_assumable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and (
        error_code(exc) == "InvalidParameterValueException"
        and bool(_ROLE_NOT_ASSUMABLE.search(_message(exc)))
    )


def function_busy(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and (
        error_code(exc) == "ResourceConflictException" and bool(_IN_PROGRESS.search(_message(exc)))
    )


def mapping_in_use(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and error_code(exc) == "ResourceInUseException"


def bucket_busy(exc: BaseException) -> bool:
    """S3 answers 409 OperationAborted ("a conflicting conditional operation is currently in progress")
    when two configuration calls on one bucket overlap; the call succeeds when repeated."""
    return isinstance(exc, Exception) and error_code(exc) == "OperationAborted"


def queue_deleted_recently(exc: BaseException) -> bool:
    """SQS refuses a queue name for 60 s after a queue of that name was deleted."""
    return isinstance(exc, Exception) and error_code(exc) == "AWS.SimpleQueueService.QueueDeletedRecently"


def receipt_targets_not_ready(exc: BaseException) -> bool:
    """SES test-writes to the bucket and checks its permission on the function when a rule is written;
    right after the bucket policy or the Lambda permission was put, they may not have propagated yet."""
    return isinstance(exc, Exception) and error_code(exc) in {
        "InvalidS3Configuration",
        "InvalidLambdaFunction",
    }


def function_not_ready(exc: BaseException) -> bool:
    return role_not_yet_assumable(exc) or function_busy(exc)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 30
    wait: wait_base = field(default_factory=lambda: wait_exponential(multiplier=1, min=1, max=10))
    sleep: Callable[[float], None] = time.sleep
    waiter_delay: int = 2
    waiter_attempts: int = 150

    def call(
        self,
        operation: Callable[[], T],
        *,
        when: Callable[[BaseException], bool],
        waiting: Callable[[str], None],
        what: str,
    ) -> T:
        def announce(_state: object) -> None:
            waiting(what)

        retrying = Retrying(
            retry=retry_if_exception(when),
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            sleep=self.sleep,
            before_sleep=announce,
            reraise=True,
        )
        return retrying(operation)

    def waiter_config(self) -> dict[str, int]:
        return {"Delay": self.waiter_delay, "MaxAttempts": self.waiter_attempts}


NO_WAIT = RetryPolicy(wait=wait_exponential(multiplier=0, max=0), sleep=lambda _seconds: None, waiter_delay=0)
