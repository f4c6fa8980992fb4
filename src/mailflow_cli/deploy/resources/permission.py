"""The resource policy statement that lets SES (for this account and rule only) invoke the function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.deploy.resources.function import AttachedToFunction, FunctionSpec
from mailflow_cli.naming import SES_PERMISSION_SID, StackNames

SES_PRINCIPAL = "ses.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"


@dataclass(frozen=True)
class PermissionSpec(AttachedToFunction):
    kind: ClassVar[str] = "lambda-permission"
    statement_id: str
    source_account: str
    source_arn: str

    def attributes(self) -> dict[str, Any]:
        return {
            "principal": SES_PRINCIPAL,
            "action": INVOKE_ACTION,
            "sourceAccount": self.source_account,
            "sourceArn": self.source_arn,
        }


def ses_permission(names: StackNames, rule_set: str, *, function: FunctionSpec) -> PermissionSpec:
    return PermissionSpec(
        name=f"{function.name}/{SES_PERMISSION_SID}",
        function_name=function.name,
        statement_id=SES_PERMISSION_SID,
        source_account=names.account_id,
        source_arn=names.receipt_rule_arn(rule_set),
        dependencies=(function.key,),
    )
