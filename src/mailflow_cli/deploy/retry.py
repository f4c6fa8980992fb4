"""Waiting for AWS's transient states: what the engine retries itself, for how long, and what it says.

botocore covers two kinds of waiting: its standard retry mode repeats throttled calls and 5xx answers
(``aws.py``), and its waiters poll a state until it is reached (a function ``Active``). What remains are
answers that mean "not yet" although the call is right: IAM has not propagated a new role, SQS has not
released a deleted queue's name, SES has not seen the bucket policy. Each is a :class:`Transient`, named
by the service that answers it, what the engine waits for, and what it says when it gives up.

:class:`RetryPolicy` repeats such a call with exponential backoff (1, 2, 4, 8, then 10 s) until it
succeeds, another error comes, or the next sleep would take the waiting past ``budget_seconds``; then
:class:`WaitFailed` names the call and says what to do. Waiters get the same budget. The sleep is
injectable, so tests never sleep (and can count every sleep).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.stop import stop_base

from mailflow_cli.aws import error_code

T = TypeVar("T")
Waiting = Callable[[str], None]

AGAIN_IN_A_MINUTE = "run `mailflow deploy` again in a minute: it continues where this one stopped"

# Right after IAM creates or changes the role, Lambda may still see it as missing or without its policy.
_ROLE_NOT_ASSUMABLE = re.compile(r"role.*cannot be assumed", re.IGNORECASE)
_ROLE_LACKS_PERMISSIONS = re.compile(r"execution role does not have permissions", re.IGNORECASE)
_IN_PROGRESS = re.compile(r"in progress|pending", re.IGNORECASE)


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))
    return ""


def _code(exc: BaseException) -> str:
    return error_code(exc) if isinstance(exc, Exception) else ""


def role_not_yet_assumable(exc: BaseException) -> bool:
    return _code(exc) == "InvalidParameterValueException" and bool(_ROLE_NOT_ASSUMABLE.search(_message(exc)))


def role_permissions_not_yet_visible(exc: BaseException) -> bool:
    """Lambda checks that the role may read the queue when the mapping is created; right after the role's
    policy was put it may not see it yet."""
    return _code(exc) == "InvalidParameterValueException" and bool(
        _ROLE_LACKS_PERMISSIONS.search(_message(exc))
    )


def function_busy(exc: BaseException) -> bool:
    return _code(exc) == "ResourceConflictException" and bool(_IN_PROGRESS.search(_message(exc)))


def mapping_in_use(exc: BaseException) -> bool:
    return _code(exc) == "ResourceInUseException"


def bucket_busy(exc: BaseException) -> bool:
    """S3 answers 409 OperationAborted ("a conflicting conditional operation is currently in progress")
    when two configuration calls on one bucket overlap, and to CreateBucket while the name of a bucket
    deleted moments ago is not released yet; the call succeeds when repeated."""
    return _code(exc) == "OperationAborted"


def queue_deleted_recently(exc: BaseException) -> bool:
    """SQS refuses a queue name for 60 s after a queue of that name was deleted."""
    return _code(exc) == "AWS.SimpleQueueService.QueueDeletedRecently"


def receipt_targets_not_ready(exc: BaseException) -> bool:
    """SES test-writes to the bucket and checks its permission on the function when a rule is written;
    right after the bucket policy or the Lambda permission was put, they may not have propagated yet."""
    return _code(exc) in {"InvalidS3Configuration", "InvalidLambdaFunction"}


def iam_entity_not_yet_visible(exc: BaseException) -> bool:
    """IAM answers NoSuchEntity for a role (PutRolePolicy) or a policy (CreateRole's boundary) created
    moments earlier: IAM is eventually consistent."""
    return _code(exc) == "NoSuchEntity"


@dataclass(frozen=True)
class Transient:
    """An answer that means "not yet": ``service`` gives it while the engine waits for ``waiting_for``;
    ``gave_up`` (and ``hint``) is what the engine says when the wait outlasts the policy's budget."""

    service: str
    matches: Callable[[BaseException], bool]
    waiting_for: str
    gave_up: str
    hint: str = AGAIN_IN_A_MINUTE


ROLE_NOT_ASSUMABLE = Transient(
    "lambda",
    role_not_yet_assumable,
    "IAM to propagate the new role to Lambda",
    "IAM has not propagated the role to Lambda",
    "IAM usually propagates a new role within seconds, rarely minutes: " + AGAIN_IN_A_MINUTE,
)
ROLE_PERMISSIONS_NOT_VISIBLE = Transient(
    "lambda",
    role_permissions_not_yet_visible,
    "IAM to propagate the role's policy to Lambda",
    "Lambda does not see the role's permission to read the queue yet",
    "IAM usually propagates a policy within seconds; if `mailflow plan` shows the role's policy "
    "unchanged, " + AGAIN_IN_A_MINUTE,
)
FUNCTION_BUSY = Transient(
    "lambda",
    function_busy,
    "the function to finish its creation or its last update",
    "the function is still being created or updated",
    "Lambda finishes most updates within a minute: " + AGAIN_IN_A_MINUTE,
)
MAPPING_IN_USE = Transient(
    "lambda",
    mapping_in_use,
    "the event source mapping to finish its last change",
    "the event source mapping is still changing",
    "run the command again in a minute",
)
BUCKET_BUSY = Transient(
    "s3",
    bucket_busy,
    "S3 to finish a conflicting operation on the bucket, or to release the name of a bucket just deleted",
    "S3 still reports a conflicting operation on the bucket",
    "S3 can take a while to release the name of a deleted bucket: " + AGAIN_IN_A_MINUTE,
)
QUEUE_DELETED_RECENTLY = Transient(
    "sqs",
    queue_deleted_recently,
    "SQS to release the name of a queue deleted less than 60 s ago",
    "SQS has not released the queue name",
    "SQS releases a deleted queue's name 60 s after the delete: " + AGAIN_IN_A_MINUTE,
)
RECEIPT_TARGETS_NOT_READY = Transient(
    "ses",
    receipt_targets_not_ready,
    "SES to see the bucket policy and the Lambda permission, which propagate for a few seconds",
    "SES still cannot write to the bucket or invoke the function",
    "if `mailflow plan` shows the bucket policy and the Lambda permission in place, " + AGAIN_IN_A_MINUTE,
)
ROLE_NOT_VISIBLE = Transient(
    "iam",
    iam_entity_not_yet_visible,
    "IAM to make the new role visible",
    "IAM still does not find the role it just created",
    "IAM usually catches up within seconds: " + AGAIN_IN_A_MINUTE,
)
BOUNDARY_NOT_VISIBLE = Transient(
    "iam",
    iam_entity_not_yet_visible,
    "IAM to make the new permissions boundary attachable",
    "IAM still does not find the permissions boundary",
    "if the boundary exists (`aws iam get-policy`), IAM has not caught up yet: " + AGAIN_IN_A_MINUTE,
)


class WaitFailed(Exception):
    """A wait ended without the state: ``call`` (service and operation) and ``reason`` say why; the
    executor puts the resource in front (deploy.execute)."""

    def __init__(self, call: str, reason: str, hint: str) -> None:
        super().__init__(f"{call}: {reason}")
        self.call = call
        self.reason = reason
        self.hint = hint


class _stop_at_budget(stop_base):
    """Stop before a sleep would take the waiting past the budget (tenacity computes the upcoming sleep
    before it asks whether to stop)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.budget


@dataclass(frozen=True)
class RetryPolicy:
    """How the engine waits: exponential backoff from ``first_delay`` to ``max_delay`` for a transient
    answer (at most ``attempts`` tries), waiters polling every ``waiter_delay``; either way at most
    ``budget_seconds`` of sleep for one call. ``sleep`` is injectable (tests count the sleeps)."""

    budget_seconds: float = 120.0
    """The longest the engine sleeps waiting for one call (or one waiter) to get past a transient state."""
    first_delay: float = 1.0
    max_delay: float = 10.0
    attempts: int = 30
    sleep: Callable[[float], None] = time.sleep
    waiter_delay: int = 2

    def delays(self) -> list[float]:
        """The sleeps between the attempts of one call, if every attempt meets the transient state."""
        delays: list[float] = []
        while len(delays) < self.attempts - 1:
            delay = self._delay(len(delays) + 1)
            if sum(delays) + delay > self.budget_seconds:
                break
            delays.append(delay)
        return delays

    def _delay(self, attempt: int) -> float:
        return min(self.max_delay, self.first_delay * 2.0 ** (attempt - 1))

    def call(
        self, operation: Callable[[], T], *, when: tuple[Transient, ...] | Transient, waiting: Waiting
    ) -> T:
        """``operation()``, repeated while it fails with one of the ``when`` states; raises
        :class:`WaitFailed` when the budget runs out, and any other error at once."""
        transients = when if isinstance(when, tuple) else (when,)

        waited = [0.0]

        def matching(exc: BaseException) -> Transient | None:
            return next((t for t in transients if t.matches(exc)), None)

        def announce(state: RetryCallState) -> None:
            transient = matching(_outcome(state))
            assert transient is not None
            waited[0] = state.idle_for  # including the sleep about to start
            waiting(
                f"{transient.waiting_for} (retry {state.attempt_number} in {_seconds(state.upcoming_sleep)}; "
                f"{_seconds(state.idle_for - state.upcoming_sleep)} of at most "
                f"{_seconds(self.budget_seconds)} waited)"
            )

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: matching(exc) is not None),
            stop=stop_after_attempt(self.attempts) | _stop_at_budget(self.budget_seconds),
            wait=wait_exponential(multiplier=self.first_delay, min=self.first_delay, max=self.max_delay),
            sleep=self.sleep,
            before_sleep=announce,
            reraise=True,
        )
        try:
            return retrying(operation)
        except Exception as exc:
            transient = matching(exc)
            if transient is None:
                raise
            operation_name = getattr(exc, "operation_name", "call")
            raise WaitFailed(
                f"{transient.service} {operation_name}",
                f"{transient.gave_up} after {_seconds(waited[0])} ({error_code(exc)}: {_message(exc)})",
                transient.hint,
            ) from exc

    def waiter_config(self) -> dict[str, int]:
        """botocore's ``WaiterConfig``: polls ``waiter_delay`` apart, within the budget."""
        if not self.waiter_delay:
            return {"Delay": 0, "MaxAttempts": self.attempts}
        return {
            "Delay": self.waiter_delay,
            "MaxAttempts": max(1, int(self.budget_seconds // self.waiter_delay)),
        }

    def wait_for(
        self, client: Any, waiter: str, *, waiting: Waiting, what: str, gave_up: str, **params: Any
    ) -> None:
        """botocore's ``waiter`` on ``client`` with this policy's delay and budget; ``what`` is announced,
        and a waiter that runs out raises :class:`WaitFailed` with ``gave_up``."""
        from botocore.exceptions import WaiterError

        poller = client.get_waiter(waiter)
        config = self.waiter_config()
        call = f"{client.meta.service_model.service_name} {poller.config.operation}"
        waiting(
            f"{what} (checking every {_seconds(config['Delay'])}, at most {_seconds(self.budget_seconds)})"
        )
        try:
            poller.wait(WaiterConfig=config, **params)
        except WaiterError as exc:
            if "Max attempts exceeded" in str(exc):
                waited = config["Delay"] * (config["MaxAttempts"] - 1)
                raise WaitFailed(call, f"{gave_up} after {_seconds(waited)}", AGAIN_IN_A_MINUTE) from exc
            raise WaitFailed(
                call,
                f"{what} ended in a failed state ({exc.kwargs.get('reason', exc)})",
                "look at the resource in the AWS console for the reason, fix it, and run the command again",
            ) from exc


def _outcome(state: RetryCallState) -> BaseException:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert error is not None
    return error


def _seconds(value: float | None) -> str:
    return f"{value or 0:g} s"


NO_WAIT = RetryPolicy(first_delay=0, max_delay=0, sleep=lambda _seconds: None, waiter_delay=0)
