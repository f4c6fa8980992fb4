"""Patches for the moto 5.2.5 gaps the deploy engine meets. Production code follows AWS; these make moto do so.

Each patch names the gap it covers:

- SES ``DeleteReceiptRule`` is not implemented (NotImplementedError; HTTP 500 in server mode).
- S3 ``CreateBucket`` ignores ``CreateBucketConfiguration.Tags`` (AWS applies them atomically).
- Lambda ignores ``DeadLetterConfig`` on create, get and update.

``install_moto_gaps(monkeypatch)`` works for ``mock_aws`` and for a ``ThreadedMotoServer`` in the same
process (the local emulator can reuse it).
"""

from __future__ import annotations

from typing import Any

import pytest


def _patch_ses(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.responses import EmptyResult
    from moto.ses.exceptions import RuleDoesNotExist, RuleSetDoesNotExist
    from moto.ses.models import SESBackend
    from moto.ses.responses import EmailResponse

    def delete_receipt_rule(self: SESBackend, rule_set_name: str, rule_name: str) -> None:
        rule_set = self.receipt_rule_set.get(rule_set_name)
        if rule_set is None:
            raise RuleSetDoesNotExist(f"Rule set does not exist: {rule_set_name}")
        remaining = [rule for rule in rule_set.rules if rule["Name"] != rule_name]
        if len(remaining) == len(rule_set.rules):
            raise RuleDoesNotExist(f"Rule does not exist: {rule_name}")
        rule_set.rules = remaining

    def delete_receipt_rule_response(self: EmailResponse) -> Any:
        self.backend.delete_receipt_rule(self._get_param("RuleSetName"), self._get_param("RuleName"))
        return EmptyResult()

    monkeypatch.setattr(SESBackend, "delete_receipt_rule", delete_receipt_rule, raising=False)
    monkeypatch.setattr(EmailResponse, "delete_receipt_rule", delete_receipt_rule_response, raising=False)


def _patch_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    import xmltodict
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_put

    def bucket_response_put(self: S3Response, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        result = original(self, request, bucket_name, querystring)
        if not querystring and self.body:
            configuration = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
            tags = (configuration.get("Tags") or {}).get("Tag") or []
            tags = tags if isinstance(tags, list) else [tags]
            if tags:
                self.backend.put_bucket_tagging(bucket_name, {tag["Key"]: tag["Value"] for tag in tags})
        return result

    monkeypatch.setattr(S3Response, "_bucket_response_put", bucket_response_put)


def _patch_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_get = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig")

    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        configuration: dict[str, Any] = original_get(self, *args, **kwargs)
        dead_letter = getattr(self, "dead_letter_config", None)
        if dead_letter:
            configuration["DeadLetterConfig"] = dead_letter
        return configuration

    def update_configuration(self: LambdaFunction, updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in updates:
            self.dead_letter_config = updates["DeadLetterConfig"]
        result: dict[str, Any] = original_update(self, updates)
        return result

    monkeypatch.setattr(LambdaFunction, "__init__", init)
    monkeypatch.setattr(LambdaFunction, "get_configuration", get_configuration)
    monkeypatch.setattr(LambdaFunction, "update_configuration", update_configuration)


def install_moto_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_ses(monkeypatch)
    _patch_s3(monkeypatch)
    _patch_lambda(monkeypatch)
