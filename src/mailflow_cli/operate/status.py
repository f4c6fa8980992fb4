"""``mailflow status``: one report answering "is my mail flowing?", with the reasons when it is not.

Each check reads only (get/describe/list). Resources come from the deploy engine's read-only plan, so
"present", "missing" and "drifted" mean exactly what ``mailflow deploy`` would do about them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.context import StackContext
from mailflow_cli.errors import MailflowError
from mailflow_cli.naming import SHARED_RULE_SET
from mailflow_cli.operate import status_sending
from mailflow_cli.operate.durations import format_duration
from mailflow_cli.operate.status_sending import SendingState, collect_sending

if TYPE_CHECKING:
    from mailflow_cli.deploy import Plan

METRICS_WINDOW = timedelta(hours=24)
AGE_WINDOW = timedelta(minutes=15)


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """The checks beyond the plan of :func:`check_resources`; SES identity and receipt-rule reads, metric
    data and alarm listings have no resource-level permissions."""
    return (
        allow(
            scopes.any,
            "ses:DescribeActiveReceiptRuleSet",
            "ses:GetIdentityVerificationAttributes",
            "ses:GetIdentityDkimAttributes",
            "cloudwatch:GetMetricData",
            "cloudwatch:DescribeAlarms",
        ),
        allow(scopes.queues, "sqs:GetQueueUrl", "sqs:GetQueueAttributes"),
        *status_sending.permissions(scopes),
    )


@dataclass(frozen=True)
class ResourceState:
    kind: str
    name: str
    state: str  # present, missing, drifted, left-over, conflict
    detail: str = ""


@dataclass(frozen=True)
class RuleSetState:
    active_set: str | None
    rule_in_active_set: bool
    rule_enabled: bool
    recipients: tuple[str, ...]
    tls_policy: str | None = None  # the rule's TlsPolicy, when read from SES


@dataclass(frozen=True)
class DomainState:
    domain: str
    verification: str
    dkim: str


@dataclass(frozen=True)
class QueueState:
    name: str
    role: str
    visible: int | None
    in_flight: int | None
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class HandlerMetrics:
    invocations: float
    errors: float
    throttles: float


@dataclass
class StatusReport:
    resources: list[ResourceState] = field(default_factory=list)
    rule_set: RuleSetState | None = None
    domains: list[DomainState] = field(default_factory=list)
    queues: list[QueueState] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    handler: HandlerMetrics | None = None
    sending: SendingState | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Worth knowing, not failing: the SES sandbox, a reputation rate past its warning threshold."""

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "problems": self.problems,
            "warnings": self.warnings,
            "resources": [asdict(r) for r in self.resources],
            "receiptRules": None if self.rule_set is None else asdict(self.rule_set),
            "domains": [asdict(d) for d in self.domains],
            "queues": [asdict(q) for q in self.queues],
            "alarmsInAlarm": self.alarms,
            "handler24h": None if self.handler is None else asdict(self.handler),
            "sending": None if self.sending is None else self.sending.as_dict(),
        }


def collect(ctx: StackContext, now: float) -> StatusReport:
    report = StatusReport()
    plan = check_resources(ctx, report)
    check_receipt_rules(ctx, report, plan)
    check_domains(ctx, report)
    check_queues(ctx, report, now, plan)
    check_alarms(ctx, report)
    check_handler(ctx, report, now)
    check_sending(ctx, report, now)
    return report


# resources ----------------------------------------------------------------------------------------------
def check_resources(ctx: StackContext, report: StatusReport) -> Plan | None:
    """Report every resource's state; the plan, whose observations the other checks reuse (None when
    the stack could not be inspected)."""
    from mailflow_cli.deploy import Action, plan_stack

    try:
        plan = plan_stack(ctx)
    except MailflowError as exc:
        report.problems.append(f"cannot inspect the stack's resources: {exc.message}")
        return None
    states = {
        Action.NO_CHANGE: "present",
        Action.CREATE: "missing",
        Action.UPDATE: "drifted",
        Action.DELETE: "left-over",
    }
    for change in plan.changes:
        detail = ", ".join(f"{d.attribute}: {_short(d.old)} -> {_short(d.new)}" for d in change.diffs)
        report.resources.append(ResourceState(change.kind, change.name, states[change.action], detail))
    for conflict in plan.conflicts:
        report.resources.append(ResourceState(conflict.kind, conflict.name, "conflict", conflict.reason))
    own = [r for r in report.resources if ctx.names.prefix in r.name]  # not the shared rule set
    if own and all(r.state == "missing" for r in own):
        report.problems.append(
            f"the stack {ctx.names.prefix} is not deployed in {ctx.config.region} "
            f"(run mailflow deploy -c {ctx.config_path})"
        )
        return plan
    for resource in report.resources:
        if resource.state != "present":
            extra = f" ({resource.detail})" if resource.detail else ""
            report.problems.append(
                f"{resource.kind} {resource.name} is {resource.state}{extra}: run mailflow deploy"
            )
    return plan


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# receipt rules -------------------------------------------------------------------------------------------
def _rules_from_plan(ctx: StackContext, plan: Plan | None) -> RuleSetState | None:
    """The receiving state as the plan read it, when the configured set is the active one and the plan
    observed it (and this stack's rule in it); otherwise None, and the active set is read again."""
    from mailflow_cli.deploy.resources.receipt_rule import ReceiptRuleSpec, RuleSetSpec

    if plan is None:
        return None
    expected_set = ctx.config.ses.rule_set or SHARED_RULE_SET
    rule_set = next(
        (
            c.observed
            for c in plan.changes
            if c.kind == RuleSetSpec.kind and c.name == expected_set and c.observed is not None
        ),
        None,
    )
    if rule_set is None:
        return None
    active = rule_set.handle.get("activeSet")
    if active is None:  # no set is active: nothing receives mail
        return RuleSetState(None, rule_in_active_set=False, rule_enabled=False, recipients=())
    if active != expected_set:  # whether this stack's rule is in that other set needs a read
        return None
    if ctx.names.receipt_rule not in rule_set.handle.get("rules", []):
        return RuleSetState(expected_set, rule_in_active_set=False, rule_enabled=False, recipients=())
    rule = next(
        (
            c.observed
            for c in plan.changes
            if c.kind == ReceiptRuleSpec.kind
            and isinstance(c.resource, ReceiptRuleSpec)
            and c.resource.rule_set == expected_set
            and c.observed is not None
        ),
        None,
    )
    if rule is None:  # in the set's listing, but not read on its own (it came or went in between)
        return None
    return RuleSetState(
        active_set=expected_set,
        rule_in_active_set=True,
        rule_enabled=bool(rule.attributes.get("enabled")),
        recipients=tuple(rule.attributes.get("recipients", [])),
    )


def _rules_from_ses(ctx: StackContext) -> RuleSetState:
    active = ctx.clients.client("ses").describe_active_receipt_rule_set()
    rule = next((r for r in active.get("Rules", []) if r.get("Name") == ctx.names.receipt_rule), None)
    return RuleSetState(
        active_set=active.get("Metadata", {}).get("Name"),
        rule_in_active_set=rule is not None,
        rule_enabled=bool(rule and rule.get("Enabled")),
        recipients=tuple(rule.get("Recipients", [])) if rule else (),
        tls_policy=str(rule["TlsPolicy"]) if rule and rule.get("TlsPolicy") else None,
    )


def check_receipt_rules(ctx: StackContext, report: StatusReport, plan: Plan | None = None) -> None:
    report.rule_set = _rules_from_plan(ctx, plan) or _rules_from_ses(ctx)
    active_name = report.rule_set.active_set
    expected_set = ctx.config.ses.rule_set or SHARED_RULE_SET
    if active_name is None:
        report.problems.append(
            f"no SES receipt rule set is active in {ctx.config.region}: SES drops all inbound mail "
            f"(activate {expected_set} with mailflow deploy)"
        )
    elif not report.rule_set.rule_in_active_set:
        report.problems.append(
            f"the active receipt rule set {active_name} does not contain the rule {ctx.names.receipt_rule}: "
            "this stack receives no mail"
        )
    elif not report.rule_set.rule_enabled:
        report.problems.append(f"the receipt rule {ctx.names.receipt_rule} is disabled")
    else:
        uncovered = [d for d in ctx.config.domains if d not in report.rule_set.recipients]
        if uncovered:
            report.problems.append(
                f"the receipt rule does not cover {', '.join(uncovered)}: run mailflow deploy"
            )


# domains ---------------------------------------------------------------------------------------------
def check_domains(ctx: StackContext, report: StatusReport) -> None:
    ses = ctx.clients.client("ses")
    domains = list(ctx.config.domains)
    verification = ses.get_identity_verification_attributes(Identities=domains)["VerificationAttributes"]
    dkim = ses.get_identity_dkim_attributes(Identities=domains)["DkimAttributes"]
    for domain in domains:
        state = DomainState(
            domain=domain,
            verification=str(verification.get(domain, {}).get("VerificationStatus", "NotStarted")),
            dkim=str(dkim.get(domain, {}).get("DkimVerificationStatus", "NotStarted")),
        )
        report.domains.append(state)
        if state.verification != "Success":
            report.problems.append(
                f"{domain} is not verified in SES ({state.verification}): run mailflow verify-domain {domain}"
            )
        elif state.dkim != "Success":
            report.problems.append(f"DKIM for {domain} is {state.dkim}: check its CNAME records")


# queues ----------------------------------------------------------------------------------------------
def _queue_roles(ctx: StackContext) -> list[tuple[str, str]]:
    names = ctx.names
    roles = [(names.app_queue(app), f"app {app}") for app in ctx.config.app_names]
    roles += [(names.default_queue, "default"), (names.outbound_queue, "outbound")]
    roles += [(names.events_queue, "SES events")]
    roles += [
        (names.apps_dlq, "apps DLQ"),
        (names.outbound_dlq, "outbound DLQ"),
        (names.inbound_dlq, "inbound DLQ"),
        (names.events_dlq, "events DLQ"),
    ]
    return roles


_NOT_DEPLOYED = ""
"""A queue the plan found missing: no read needed."""


def _queue_urls(plan: Plan | None) -> dict[str, str]:
    """Queue name -> URL as the plan found it (``_NOT_DEPLOYED`` for a queue it would create). Queues
    the plan says nothing about (a conflict, or no plan) are looked up by name."""
    from mailflow_cli.deploy import Action
    from mailflow_cli.deploy.resources.queues import QueueSpec

    urls: dict[str, str] = {}
    for change in () if plan is None else plan.changes:
        if change.kind != QueueSpec.kind:
            continue
        if change.action is Action.CREATE:
            urls[change.name] = _NOT_DEPLOYED
        elif change.observed is not None and change.observed.handle.get("url"):
            urls[change.name] = str(change.observed.handle["url"])
    return urls


def _message_counts(ctx: StackContext, name: str, url: str | None) -> dict[str, Any] | None:
    """The queue's message counts (one GetQueueAttributes; a GetQueueUrl first only when the plan did
    not give the URL), or None when the queue does not exist."""
    from botocore.exceptions import ClientError

    if url == _NOT_DEPLOYED:
        return None
    sqs = ctx.clients.client("sqs")
    try:
        if url is None:
            url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        attributes: dict[str, Any] = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except ClientError:
        return None
    return attributes


def check_queues(ctx: StackContext, report: StatusReport, now: float, plan: Plan | None = None) -> None:
    from mailflow_cli.deploy.handlers.base import fan_out

    roles = _queue_roles(ctx)
    ages = _oldest_ages(ctx, [name for name, _ in roles], now)
    threshold = ctx.config.alarms.oldest_message_age_seconds
    urls = _queue_urls(plan)
    counts = fan_out(lambda queue: _message_counts(ctx, queue[0], urls.get(queue[0])), roles)
    for (name, role), attributes in zip(roles, counts, strict=True):
        if attributes is None:
            report.queues.append(QueueState(name, role, None, None, None))
            continue
        state = QueueState(
            name=name,
            role=role,
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            oldest_age_seconds=ages.get(name),
        )
        report.queues.append(state)
        if role.endswith("DLQ") and state.visible:
            report.problems.append(f"{state.visible} message(s) in the {role}: see mailflow dlq list")
        elif state.oldest_age_seconds is not None and state.oldest_age_seconds > threshold:
            report.problems.append(
                f"the oldest message in {name} is {format_duration(state.oldest_age_seconds)} old "
                f"(threshold {format_duration(threshold)}): is its consumer running?"
            )


def _oldest_ages(ctx: StackContext, queue_names: list[str], now: float) -> dict[str, float]:
    queries = [
        {
            "Id": f"q{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": name}],
                },
                "Period": 300,
                "Stat": "Maximum",
            },
        }
        for index, name in enumerate(queue_names)
    ]
    results = _metric_data(ctx, queries, now, AGE_WINDOW)
    return {
        queue_names[int(key[1:])]: values[0]  # newest first
        for key, values in results.items()
        if values
    }


# alarms and the handler --------------------------------------------------------------------------------
def check_alarms(ctx: StackContext, report: StatusReport) -> None:
    cloudwatch = ctx.clients.client("cloudwatch")
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=ctx.names.name_prefix, StateValue="ALARM"
    ):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if alarm.get("StateValue") != "ALARM":  # not every endpoint applies both filters
                continue
            name = str(alarm["AlarmName"])
            report.alarms.append(name)
            reason = str(alarm.get("StateReason", "")).strip()
            report.problems.append(f"alarm {name} is in ALARM" + (f": {reason}" if reason else ""))


def check_handler(ctx: StackContext, report: StatusReport, now: float) -> None:
    report.handler = handler_metrics(ctx, now, METRICS_WINDOW)
    if report.handler.errors:
        report.problems.append(
            f"the handler failed {report.handler.errors:g} time(s) in the last 24 h: "
            "see mailflow logs --since 24h --filter ERROR"
        )
    if report.handler.throttles:
        report.problems.append(
            f"the handler was throttled {report.handler.throttles:g} time(s) in the last 24 h"
        )


def check_sending(ctx: StackContext, report: StatusReport, now: float) -> None:
    """The SES account, its reputation rates and the feedback events of the last 24 h (status_sending)."""
    report.sending = collect_sending(ctx, now, _metric_data)
    report.problems.extend(report.sending.problems)
    report.warnings.extend(report.sending.warnings)


def handler_metrics(ctx: StackContext, now: float, window: timedelta) -> HandlerMetrics:
    """The handler's invocations, errors and throttles over ``window`` (CloudWatch, one sum each)."""
    queries = [
        {
            "Id": metric.lower(),
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": ctx.names.function}],
                },
                "Period": int(window.total_seconds()),
                "Stat": "Sum",
            },
        }
        for metric in ("Invocations", "Errors", "Throttles")
    ]
    results = _metric_data(ctx, queries, now, window)
    return HandlerMetrics(
        invocations=sum(results.get("invocations", [])),
        errors=sum(results.get("errors", [])),
        throttles=sum(results.get("throttles", [])),
    )


METRIC_QUERIES_PER_CALL = 500  # GetMetricData refuses more MetricDataQueries in one call


def _metric_data(
    ctx: StackContext, queries: list[dict[str, Any]], now: float, window: timedelta
) -> dict[str, list[float]]:
    end = datetime.fromtimestamp(now, tz=UTC)
    results: dict[str, list[float]] = {}
    cloudwatch = ctx.clients.client("cloudwatch")
    paginator = cloudwatch.get_paginator("get_metric_data")
    for first in range(0, len(queries), METRIC_QUERIES_PER_CALL):
        for page in paginator.paginate(
            MetricDataQueries=queries[first : first + METRIC_QUERIES_PER_CALL],
            StartTime=end - window,
            EndTime=end,
            ScanBy="TimestampDescending",
        ):
            for result in page.get("MetricDataResults", []):
                results.setdefault(str(result["Id"]), []).extend(float(v) for v in result.get("Values", []))
    return results
