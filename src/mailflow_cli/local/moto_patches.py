"""Patches to moto that the emulator (and tests that use moto the same way) rely on.

Written against moto 5.2.x (pyproject pins ``moto<5.3``); each patch checks that the thing it replaces
still looks the way it expects, and fails loudly otherwise, so a moto upgrade cannot silently undo it.

1. ``sqs.Queue.lambda_event_source_mappings``: moto delivers a message to every Lambda ESM of a queue
   synchronously inside ``send_message`` (one message per invocation, ``batchItemFailures`` ignored, and
   without Docker the invocation fails). The emulator runs event source mappings itself
   (:mod:`mailflow_cli.local.esm_poller`), so the queue's mapping table is made permanently empty. The
   mappings stay in the Lambda backend, where ``list_event_source_mappings`` reports them.
2. ``ses.delete_receipt_rule``: not implemented by moto; added to the backend and the query API.
3. ``s3.FakeBucket.get_permission``: moto evaluates bucket policies for object requests but ignores their
   conditions, so the stack's ``Deny s3:* when aws:SecureTransport is false`` statement denies every
   object request (moto cannot see TLS at all). Like AWS IAM policies, bucket policies are stored and
   returned but not evaluated in the emulator (docs/local.md lists this).
4. ``awslambda.LambdaFunction``: moto drops a function's ``DeadLetterConfig``; it is kept and reported
   by GetFunctionConfiguration, so asynchronous invocations can use the dead-letter queue.
"""

from __future__ import annotations

import threading
from typing import Any

_applied = False
_lock = threading.Lock()


class MotoPatchError(RuntimeError):
    """The installed moto no longer has the shape these patches were written for."""


def _no_mappings(_queue: Any) -> dict[str, Any]:
    return {}


def _discard_mappings(_queue: Any, _value: Any) -> None:
    return None


def _disable_sqs_esm_delivery() -> None:
    import inspect

    from moto.sqs import models as sqs_models

    source = inspect.getsource(sqs_models.Queue.add_message)
    if "lambda_event_source_mappings" not in source:
        raise MotoPatchError("moto.sqs.models.Queue.add_message no longer reads lambda_event_source_mappings")
    setattr(sqs_models.Queue, "lambda_event_source_mappings", property(_no_mappings, _discard_mappings))  # noqa: B010


def _delete_receipt_rule(backend: Any, rule_set_name: str, rule_name: str) -> None:
    """AWS semantics: the set must exist; deleting a rule that does not exist succeeds."""
    from moto.ses.exceptions import RuleSetDoesNotExist

    rule_set = backend.receipt_rule_set.get(rule_set_name)
    if rule_set is None:
        raise RuleSetDoesNotExist(f"Rule set does not exist: {rule_set_name}")
    rule_set.rules = [rule for rule in rule_set.rules if rule.get("Name") != rule_name]


def _delete_receipt_rule_response(response: Any) -> Any:
    from moto.core.responses import EmptyResult

    response.backend.delete_receipt_rule(response._get_param("RuleSetName"), response._get_param("RuleName"))
    return EmptyResult()


def _add_delete_receipt_rule() -> None:
    from moto.ses import models as ses_models
    from moto.ses import responses as ses_responses

    if not hasattr(ses_models.SESBackend, "receipt_rule_set") and not hasattr(
        ses_models.SESBackend, "describe_receipt_rule_set"
    ):
        raise MotoPatchError("moto.ses.models.SESBackend has no receipt rule sets")
    setattr(ses_models.SESBackend, "delete_receipt_rule", _delete_receipt_rule)  # noqa: B010
    setattr(ses_responses.EmailResponse, "delete_receipt_rule", _delete_receipt_rule_response)  # noqa: B010


def _neutral_permission(_bucket: Any, _action: str, _resource: str) -> Any:
    from moto.iam.access_control import PermissionResult

    return PermissionResult.NEUTRAL


def _ignore_bucket_policies() -> None:
    from moto.s3 import models as s3_models

    if not hasattr(s3_models.FakeBucket, "get_permission"):
        raise MotoPatchError("moto.s3.models.FakeBucket.get_permission no longer exists")
    setattr(s3_models.FakeBucket, "get_permission", _neutral_permission)  # noqa: B010


def _keep_dead_letter_config() -> None:
    from moto.awslambda import models as lambda_models

    cls = lambda_models.LambdaFunction
    if getattr(cls, "_mailflow_dead_letter", False):
        return
    original_init = cls.__init__
    original_get = cls.get_configuration
    original_update = cls.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.mailflow_dead_letter_config = spec.get("DeadLetterConfig") or None

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_get(self, *args, **kwargs)
        dead_letter = getattr(self, "mailflow_dead_letter_config", None)
        if dead_letter and dead_letter.get("TargetArn"):
            config["DeadLetterConfig"] = dead_letter
        return config

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in updates:
            self.mailflow_dead_letter_config = updates["DeadLetterConfig"] or None
        return original_update(self, updates)

    setattr(cls, "__init__", init)  # noqa: B010
    setattr(cls, "get_configuration", get_configuration)  # noqa: B010
    setattr(cls, "update_configuration", update_configuration)  # noqa: B010
    setattr(cls, "_mailflow_dead_letter", True)  # noqa: B010


def apply() -> None:
    """Apply every patch once per process (idempotent, thread-safe)."""
    global _applied  # noqa: PLW0603 - a process-wide, apply-once switch
    with _lock:
        if _applied:
            return
        _disable_sqs_esm_delivery()
        _add_delete_receipt_rule()
        _ignore_bucket_policies()
        _keep_dead_letter_config()
        _applied = True
