"""SES receiving: apply the active receipt rule set to a message and run each rule's actions in order.

Supported actions: S3Action (the stored object carries SES's prepended headers), LambdaAction (Event:
asynchronous, with retries; RequestResponse: synchronous, honouring ``disposition``), AddHeaderAction and
StopAction. Other actions (SNS, Bounce, WorkMail) are logged and skipped.

The emulator receives mail in one region, as SES does per regional endpoint. A recipient that only a
rule in another region's active rule set accepts is refused as SES would refuse it, with a reply that
names that region and how to restart the emulator there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailflow_cli.local.async_invoke import AsyncInvoker
from mailflow_cli.local.lambda_runner import LambdaRunner
from mailflow_cli.local.receipt_rules import (
    MAILBOX_DOES_NOT_EXIST,
    Evaluation,
    check_recipient,
    evaluate,
    rules_for,
)
from mailflow_cli.local.ses_event import ReceivedMail, lambda_event, stored_message

log = logging.getLogger("mailflow.local.receiving")

CONTINUE, STOP_RULE, STOP_RULE_SET = "continue", "stop-rule", "stop-rule-set"

Rules = Sequence[Mapping[str, Any]]
OtherRegions = Callable[[], Mapping[str, Rules]]
"""The active receipt rules of every other region that has any, by region."""


def wrong_region(rule_region: str, own_region: str) -> str:
    return (
        f"{MAILBOX_DOES_NOT_EXIST}: its receipt rule is in {rule_region} and this emulator receives mail "
        f"in {own_region} (mailflow local stop && mailflow local start --region {rule_region})"
    )


@dataclass
class Receipt:
    message_id: str
    evaluation: Evaluation
    stored: list[str] = field(default_factory=list)
    invoked: list[str] = field(default_factory=list)


class Receiver:
    def __init__(
        self,
        *,
        ses_client: Any,
        s3_client: Any,
        runner: LambdaRunner,
        async_invoker: AsyncInvoker,
        region: str,
        other_regions: OtherRegions = dict,
    ) -> None:
        self._ses = ses_client
        self._s3 = s3_client
        self._runner = runner
        self._async = async_invoker
        self.region = region
        self._other_regions = other_regions

    def active_rules(self) -> list[Mapping[str, Any]]:
        response = self._ses.describe_active_receipt_rule_set()
        return list(response.get("Rules") or [])

    def check_recipient(self, address: str, *, tls: bool) -> str | None:
        """The SMTP refusal for this recipient, naming the region whose rule accepts it, if one does."""
        refusal = check_recipient(self.active_rules(), address, tls=tls)
        if refusal == MAILBOX_DOES_NOT_EXIST:
            for region, rules in sorted(self._other_regions().items()):
                if rules_for(rules, address):
                    return wrong_region(region, self.region)
        return refusal

    def accepts(self, address: str) -> bool:
        """Whether a message to this address, received over TLS, would be accepted."""
        return check_recipient(self.active_rules(), address, tls=True) is None

    def receive(self, mail: ReceivedMail, *, tls: bool) -> Receipt:
        evaluation = evaluate(self.active_rules(), mail.recipients, tls=tls)
        receipt = Receipt(message_id=mail.message_id, evaluation=evaluation)
        stopped: set[str] = set()
        for application in evaluation.applications:
            recipients = [r for r in application.recipients if r not in stopped]
            if not recipients:
                continue
            headers: list[tuple[str, str]] = []
            for action in application.rule.get("Actions") or ():
                outcome = self._run_action(action, mail, recipients, headers, receipt)
                if outcome == STOP_RULE_SET:
                    stopped.update(recipients)
                if outcome != CONTINUE:
                    break
        return receipt

    def _run_action(
        self,
        action: Mapping[str, Any],
        mail: ReceivedMail,
        recipients: Sequence[str],
        headers: list[tuple[str, str]],
        receipt: Receipt,
    ) -> str:
        """Run one action; say whether processing continues, or stops for this rule or the whole set."""
        if "S3Action" in action:
            spec = action["S3Action"]
            key = f"{spec.get('ObjectKeyPrefix') or ''}{mail.message_id}"
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
            self._s3.put_object(
                Bucket=spec["BucketName"], Key=key, Body=extra + stored_message(mail, self.region)
            )
            receipt.stored.append(f"s3://{spec['BucketName']}/{key}")
            return CONTINUE
        if "LambdaAction" in action:
            spec = action["LambdaAction"]
            invocation = str(spec.get("InvocationType") or "Event")
            event = lambda_event(mail, self.region, recipients, spec["FunctionArn"], invocation)
            receipt.invoked.append(spec["FunctionArn"])
            if invocation == "RequestResponse":
                result = self._runner.invoke(spec["FunctionArn"], event)
                disposition = result.payload.get("disposition") if isinstance(result.payload, dict) else None
                return {"STOP_RULE": STOP_RULE, "STOP_RULE_SET": STOP_RULE_SET}.get(
                    str(disposition), CONTINUE
                )
            self._async.submit(spec["FunctionArn"], event)
            return CONTINUE
        if "AddHeaderAction" in action:
            spec = action["AddHeaderAction"]
            headers.append((str(spec["HeaderName"]), str(spec["HeaderValue"])))
            return CONTINUE
        if "StopAction" in action:
            return STOP_RULE_SET
        log.warning("receipt rule action %s is not emulated; skipped", ", ".join(action))
        return CONTINUE
