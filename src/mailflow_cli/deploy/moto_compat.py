"""Patches for the moto 5.2.5 gaps the deploy engine meets: production code follows AWS, these make moto.

Not used against AWS. Tests install them per test; the local emulator (a moto server in this process)
can install them for its lifetime: ``undo = install_moto_compat()``.

Each patch names the gap it covers:

- SES ``DeleteReceiptRule`` is not implemented (NotImplementedError; HTTP 500 in server mode).
- S3 ``CreateBucket`` ignores ``CreateBucketConfiguration.Tags`` (AWS applies them atomically).
- Lambda ignores ``DeadLetterConfig`` on create, get and update.
- S3 evaluates bucket policies but ignores ``Bool`` conditions, so a ``Deny`` on
  ``aws:SecureTransport = false`` denies every object request; requests to moto count as TLS here.

They work for ``mock_aws`` and for a ``ThreadedMotoServer`` in the same process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _Patcher:
    def __init__(self) -> None:
        self.undo: list[tuple[type, str, Any]] = []

    def set(self, owner: type, name: str, value: Any) -> None:
        self.undo.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self.undo.clear()


_MISSING = object()


def _patch_ses(patch: _Patcher) -> None:
    from moto.core.responses import EmptyResult
    from moto.ses.exceptions import RuleDoesNotExist, RuleSetDoesNotExist
    from moto.ses.models import SESBackend
    from moto.ses.responses import EmailResponse

    def delete_receipt_rule(self: Any, rule_set_name: str, rule_name: str) -> None:
        rule_set = self.receipt_rule_set.get(rule_set_name)
        if rule_set is None:
            raise RuleSetDoesNotExist(f"Rule set does not exist: {rule_set_name}")
        remaining = [rule for rule in rule_set.rules if rule["Name"] != rule_name]
        if len(remaining) == len(rule_set.rules):
            raise RuleDoesNotExist(f"Rule does not exist: {rule_name}")
        rule_set.rules = remaining

    def delete_receipt_rule_response(self: Any) -> Any:
        self.backend.delete_receipt_rule(self._get_param("RuleSetName"), self._get_param("RuleName"))
        return EmptyResult()

    patch.set(SESBackend, "delete_receipt_rule", delete_receipt_rule)
    patch.set(EmailResponse, "delete_receipt_rule", delete_receipt_rule_response)


def _patch_s3(patch: _Patcher) -> None:
    from xml.etree import ElementTree

    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_put

    def bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        result = original(self, request, bucket_name, querystring)
        if not querystring and self.body:
            tags = {
                element.findtext("{*}Key"): element.findtext("{*}Value")
                for element in ElementTree.fromstring(self.body).iter()
                if element.tag.endswith("}Tag") or element.tag == "Tag"
            }
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return result

    patch.set(S3Response, "_bucket_response_put", bucket_response_put)


def _patch_s3_secure_transport(patch: _Patcher) -> None:
    import json

    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def insecure_only(statement: dict[str, Any]) -> bool:
        return statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode())
        statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
        policy["Statement"] = [statement for statement in statements if not insecure_only(statement)]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    patch.set(FakeBucket, "get_permission", get_permission)


def _patch_lambda(patch: _Patcher) -> None:
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_get = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig")

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        configuration: dict[str, Any] = original_get(self, *args, **kwargs)
        dead_letter = getattr(self, "dead_letter_config", None)
        if dead_letter:
            configuration["DeadLetterConfig"] = dead_letter
        return configuration

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in updates:
            self.dead_letter_config = updates["DeadLetterConfig"]
        result: dict[str, Any] = original_update(self, updates)
        return result

    patch.set(LambdaFunction, "__init__", init)
    patch.set(LambdaFunction, "get_configuration", get_configuration)
    patch.set(LambdaFunction, "update_configuration", update_configuration)


def install_moto_compat() -> Callable[[], None]:
    """Patch moto's classes in this process; return the function that undoes it."""
    patch = _Patcher()
    _patch_ses(patch)
    _patch_s3(patch)
    _patch_s3_secure_transport(patch)
    _patch_lambda(patch)
    return patch.restore
