"""Lambda: the SES invoke permission (a statement in the function's resource policy, found by its Sid)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow, condition
from mailflow_cli.deploy.handlers.base import ResourceHandler, missing
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.permission import INVOKE_ACTION, SES_PRINCIPAL, PermissionSpec


def _condition_value(condition: dict[str, Any], operator: str, key: str) -> Any:
    block = condition.get(operator, {})
    return next((value for name, value in block.items() if name.lower() == key.lower()), None)


class PermissionHandler(ResourceHandler[PermissionSpec]):
    resource_type = PermissionSpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """The deployer may open the function to SES only (lambda:Principal)."""
        function = scopes.function
        for_ses = condition("OnlyForSes", "StringEquals", "lambda:Principal", SES_PRINCIPAL)
        return Access(
            read=(allow(function, "lambda:GetPolicy"),),
            write=(
                allow(function, "lambda:AddPermission", when=for_ses),
                allow(function, "lambda:RemovePermission"),
            ),
        )

    def discover(self, resource: PermissionSpec) -> Observed | None:
        try:
            policy = json.loads(
                self.client("lambda").get_policy(FunctionName=resource.function_name)["Policy"]
            )
        except ClientError as exc:
            if missing(exc, "ResourceNotFoundException"):
                return None
            raise
        statement = next(
            (s for s in policy.get("Statement", []) if s.get("Sid") == resource.statement_id), None
        )
        if statement is None:
            return None
        principal = statement.get("Principal", {})
        condition = statement.get("Condition", {})
        return Observed(
            {
                "principal": principal.get("Service") if isinstance(principal, dict) else principal,
                "action": statement.get("Action"),
                "sourceAccount": _condition_value(condition, "StringEquals", "AWS:SourceAccount"),
                "sourceArn": _condition_value(condition, "ArnLike", "AWS:SourceArn"),
            }
        )

    def create(self, resource: PermissionSpec, step: StepReporter) -> None:
        self.client("lambda").add_permission(
            FunctionName=resource.function_name,
            StatementId=resource.statement_id,
            Action=INVOKE_ACTION,
            Principal=SES_PRINCIPAL,
            SourceAccount=resource.source_account,
            SourceArn=resource.source_arn,
        )

    def update(
        self, resource: PermissionSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        self.delete(resource, observed, step)
        self.create(resource, step)

    def delete(self, resource: PermissionSpec, observed: Observed, step: StepReporter) -> None:
        self.client("lambda").remove_permission(
            FunctionName=resource.function_name, StatementId=resource.statement_id
        )
