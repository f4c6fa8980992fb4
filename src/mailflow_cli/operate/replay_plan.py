"""What ``mailflow replay`` would do with one email: pure, from its idempotency item and the current config.

The email's trusted record is the SES record the handler stored when it took the email (contract C2,
``receipt`` of ``inbound#<sesId>``). Routing and the security decision are the handler's own functions
(``route``, ``decide``) run on that record with the runtime config the current ``mailflow.yaml`` gives,
so the stored verdicts decide as they did. An email goes to the targets the current routing delivers to
and its record does not list as done; quarantine decisions stay: an email the handler quarantined is not
replayed, and a target the current policy would quarantine is not replayed to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailflow_cli.operate.handler_code import handler_module
from mailflow_cli.operate.inbound_replay import (
    INPROGRESS,
    QUARANTINE_TARGET,
    SES_ID,
    Refusal,
    done_targets,
    stored_record,
)

# Categories: what happens to the email.
DELIVER = "deliver"
UP_TO_DATE = "up to date"
QUARANTINED = "quarantined"
CANNOT = "cannot replay"


@dataclass(frozen=True)
class EmailPlan:
    ses_id: str
    category: str
    targets: tuple[str, ...] = ()  # DELIVER: the targets it goes to now
    done: tuple[str, ...] = ()  # the targets that received it already
    reason: str = ""  # QUARANTINED and CANNOT: why

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"sesMessageId": self.ses_id, "category": self.category}
        if self.category == DELIVER:
            document.update(targets=list(self.targets), delivered=list(self.done))
        else:
            document["reason"] = self.reason
        return document


class Router:
    """The handler's routing and verdicts with one runtime config (the current one)."""

    def __init__(self, runtime_config: dict[str, Any]) -> None:
        self._config = handler_module("config").parse_config(runtime_config)
        self._route = handler_module("inbound.route").route
        verdicts = handler_module("inbound.verdicts")
        self._decide = verdicts.decide
        self._not_parsed = verdicts.NOT_PARSED

    def decision(self, record: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """(the apps the email is delivered to, {app: quarantine reason}) under the current config."""
        mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
        recipients = [r for r in receipt.get("recipients", []) if isinstance(r, str)]
        routes = self._route(recipients, self._config)
        decided = self._decide(routes, receipt, self._config)
        # Without the message parsed, only the sender checks that do not depend on the From header apply:
        # the handler may still quarantine a route whose sender's From domain fails DMARC.
        decided.check_senders(
            list(decided.deliver), self._config, str(mail.get("source") or ""), self._not_parsed
        )
        return [r.app for r in decided.deliver], {r.app: reason for r, reason in decided.quarantine}


def plan_email(ses_id: str, item: dict[str, Any] | None, router: Router, only_app: str | None) -> EmailPlan:
    if not SES_ID.fullmatch(ses_id) or not ses_id.strip("."):
        return EmailPlan(ses_id, CANNOT, reason="not an SES message id: not a raw mail SES stored")
    record = stored_record(item, ses_id)
    if isinstance(record, Refusal):
        return EmailPlan(ses_id, CANNOT, reason=f"no trusted record: {record.why}")
    assert item is not None  # stored_record refuses a missing item
    if item.get("status", {}).get("S") == INPROGRESS:
        return EmailPlan(
            ses_id, CANNOT, reason="the handler is processing it right now: run replay again later"
        )
    done = done_targets(item)
    if QUARANTINE_TARGET in done:
        return EmailPlan(
            ses_id, QUARANTINED, done=done, reason="the handler quarantined it: it stays in quarantine"
        )
    deliver, quarantine = router.decision(record)
    wanted = [app for app in deliver if only_app is None or app == only_app]
    targets = tuple(app for app in wanted if app not in done)
    if targets:
        return EmailPlan(ses_id, DELIVER, targets=targets, done=done)
    refused = {app: why for app, why in quarantine.items() if only_app is None or app == only_app}
    if refused and not wanted:
        reasons = ", ".join(f"{app}: {why}" for app, why in sorted(refused.items()))
        return EmailPlan(
            ses_id, QUARANTINED, done=done, reason=f"the current policy would quarantine it ({reasons})"
        )
    return EmailPlan(ses_id, UP_TO_DATE, done=done)
