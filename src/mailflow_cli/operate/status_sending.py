"""``mailflow status``, sending: the SES account (sandbox, paused, quota), its bounce and complaint rates
against the configured thresholds, and what SES said about each app's mail in the last 24 hours.

Everything comes from what AWS already keeps for free or nearly: SES v2 ``GetAccount``, CloudWatch's
``AWS/SES`` reputation metrics (account level, no dimensions, published only once the account has sent
enough mail), and the handler's ``"outbound event"`` log lines (contract L), counted by a Logs Insights
query or, where Insights is not available (the local emulator), by reading the lines with FilterLogEvents.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import error_code
from mailflow_cli.config import ReputationConfig
from mailflow_cli.operate.logs import parse_record
from mailflow_cli.operate.timing import current_clock

if TYPE_CHECKING:
    from mailflow_cli.context import StackContext

FEEDBACK_WINDOW = timedelta(hours=24)
RATE_WINDOW = timedelta(hours=24)
RATE_PERIOD_SECONDS = 300
QUERY_WAIT_SECONDS = 30.0
QUERY_POLL_SECONDS = 1.0
MAX_LOG_EVENTS = 10_000
"""FilterLogEvents reads at most this many lines; past it the counts say "at least"."""
FEEDBACK_LINE = "outbound event"
UNATTRIBUTED = "(unattributed)"
NOT_COUNTED = frozenset({"duplicate"})
"""Contract L: an SNS redelivery of an event the handler already turned into a message."""
QUOTA_WARNING_SHARE = 0.8
INSIGHTS_QUERY = (
    f'filter message = "{FEEDBACK_LINE}" and outcome != "duplicate" | stats count(*) as n by app, event'
)


@dataclass(frozen=True)
class AccountState:
    production_access: bool
    sending_enabled: bool
    enforcement: str
    max_24_hour_send: float
    max_send_rate: float
    sent_last_24_hours: float


@dataclass(frozen=True)
class RateState:
    """One reputation rate in percent (``None``: SES has published none yet) and its thresholds."""

    name: str
    percent: float | None
    warn: float
    alarm: float

    @property
    def level(self) -> str:
        if self.percent is None:
            return "no data"
        if self.percent >= self.alarm:
            return "alarm"
        return "warn" if self.percent >= self.warn else "ok"


@dataclass(frozen=True)
class FeedbackCounts:
    """Per app, the SES events the handler logged, by event (``delivery``, ``bounce``, ...)."""

    source: str
    apps: dict[str, dict[str, int]]
    truncated: bool = False
    note: str | None = None


@dataclass
class SendingState:
    account: AccountState | None = None
    rates: list[RateState] = field(default_factory=list)
    feedback: FeedbackCounts | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": None if self.account is None else asdict(self.account),
            "reputation": {
                rate.name: {
                    "percent": rate.percent,
                    "warn": rate.warn,
                    "alarm": rate.alarm,
                    "level": rate.level,
                }
                for rate in self.rates
            },
            "feedback24h": None if self.feedback is None else asdict(self.feedback),
        }


MetricData = Callable[["StackContext", list[dict[str, Any]], float, timedelta], dict[str, list[float]]]
"""``status``'s GetMetricData reader: (ctx, queries, now, window) -> query id -> values, newest first."""


class Unreadable(Exception):
    """A part of the report that could not be read; the message says which and why."""


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """The SES account (no resource-level permissions), and the handler's feedback lines (Logs Insights,
    else FilterLogEvents; a query is stopped by its id alone). The rates come with status's
    GetMetricData."""
    return (
        allow(scopes.any, "ses:GetAccount", "logs:StopQuery"),
        allow(scopes.log_group, "logs:StartQuery", "logs:GetQueryResults", "logs:FilterLogEvents"),
    )


def collect_sending(ctx: StackContext, now: float, metric_data: MetricData) -> SendingState:
    """The three reads run at the same time; a part that cannot be read is a problem, not a failure."""
    from mailflow_cli.deploy.handlers.base import both

    def read(part: Callable[[], Any]) -> Any:
        try:
            return part()
        except Unreadable as why:
            return why

    (account, rates), feedback = both(
        lambda: both(lambda: read(lambda: read_account(ctx)), lambda: read_rates(ctx, now, metric_data)),
        lambda: read(lambda: read_feedback(ctx, now)),
    )
    state = SendingState(rates=rates)
    for part in (account, feedback):
        if isinstance(part, Unreadable):
            state.problems.append(str(part))
    state.account = account if isinstance(account, AccountState) else None
    state.feedback = feedback if isinstance(feedback, FeedbackCounts) else None
    judge(ctx, state)
    return state


# the account -----------------------------------------------------------------------------------------
def read_account(ctx: StackContext) -> AccountState:
    from botocore.exceptions import ClientError

    try:
        account = ctx.clients.client("sesv2").get_account()
    except ClientError as exc:
        raise Unreadable(f"cannot read the SES account (GetAccount: {error_code(exc) or exc})") from exc
    quota = account.get("SendQuota", {})
    return AccountState(
        production_access=bool(account.get("ProductionAccessEnabled", False)),
        sending_enabled=bool(account.get("SendingEnabled", False)),
        enforcement=str(account.get("EnforcementStatus", "UNKNOWN")),
        max_24_hour_send=float(quota.get("Max24HourSend", 0)),
        max_send_rate=float(quota.get("MaxSendRate", 0)),
        sent_last_24_hours=float(quota.get("SentLast24Hours", 0)),
    )


# the reputation rates ----------------------------------------------------------------------------------
def read_rates(ctx: StackContext, now: float, metric_data: MetricData) -> list[RateState]:
    from mailflow_cli.deploy.resources.alarms import BOUNCE_RATE, COMPLAINT_RATE, SES_NAMESPACE

    thresholds: ReputationConfig = ctx.config.alarms.reputation
    metrics = {"bounce": BOUNCE_RATE, "complaint": COMPLAINT_RATE}
    queries = [
        {
            "Id": name,
            "MetricStat": {
                "Metric": {"Namespace": SES_NAMESPACE, "MetricName": metric},
                "Period": RATE_PERIOD_SECONDS,
                "Stat": "Maximum",
            },
        }
        for name, metric in metrics.items()
    ]
    latest = {
        name: values[0] for name, values in metric_data(ctx, queries, now, RATE_WINDOW).items() if values
    }
    return [
        RateState(
            name=name,
            percent=round(latest[name] * 100, 4) if name in latest else None,
            warn=getattr(thresholds, f"{name}_warn"),
            alarm=getattr(thresholds, f"{name}_alarm"),
        )
        for name in metrics
    ]


# the feedback events -----------------------------------------------------------------------------------
NO_LOGS = FeedbackCounts("none", {}, note="the handler has not logged yet (no log group)")


def read_feedback(ctx: StackContext, now: float) -> FeedbackCounts:
    """Logs Insights where the endpoint has it and answers with the counts asked for; the log lines
    themselves (FilterLogEvents) otherwise, saying so."""
    from botocore.exceptions import ClientError

    end = math.ceil(now)  # whole seconds (StartQuery's unit), and nothing logged up to now left out
    start = end - int(FEEDBACK_WINDOW.total_seconds())
    try:
        return insights_counts(ctx, start, end)
    except InsightsUnavailable as why:
        note = f"Logs Insights is not available here ({why}): counted from the log lines"
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return NO_LOGS
        note = f"Logs Insights failed ({error_code(exc) or exc}): counted from the log lines"
    try:
        return line_counts(ctx, start, end, note)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return NO_LOGS
        raise Unreadable(
            f"cannot read the handler's logs (FilterLogEvents: {error_code(exc) or exc})"
        ) from exc


class InsightsUnavailable(Exception):
    """The endpoint has no Logs Insights, or answered a query in a form that is not the one asked for."""


def insights_counts(ctx: StackContext, start: int, end: int) -> FeedbackCounts:
    from botocore.exceptions import ClientError

    logs = ctx.clients.client("logs")
    clock = current_clock()
    try:
        query_id = logs.start_query(
            logGroupName=ctx.names.log_group, startTime=start, endTime=end, queryString=INSIGHTS_QUERY
        )["queryId"]
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFoundException", "AccessDeniedException", "AccessDenied"):
            raise
        raise InsightsUnavailable(f"StartQuery: {error_code(exc) or exc}") from exc
    waited = 0.0
    while True:
        answer = logs.get_query_results(queryId=query_id)
        status = str(answer.get("status"))
        if status == "Complete":
            return FeedbackCounts("logs-insights", _insights_rows(answer.get("results", [])))
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise InsightsUnavailable(f"the query ended {status}")
        if waited >= QUERY_WAIT_SECONDS:
            logs.stop_query(queryId=query_id)
            raise InsightsUnavailable(f"the query was still {status} after {QUERY_WAIT_SECONDS:g} s")
        clock.sleep(QUERY_POLL_SECONDS)
        waited += QUERY_POLL_SECONDS


def _insights_rows(rows: list[list[dict[str, str]]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        fields = {str(item.get("field")): item.get("value") for item in row}
        try:
            n = int(str(fields.get("n")))
        except ValueError:
            raise InsightsUnavailable("its answer has no counts") from None
        app = str(fields.get("app") or UNATTRIBUTED)
        counts.setdefault(app, Counter())[_event_name(fields.get("event"))] += n
    return {app: dict(events) for app, events in sorted(counts.items())}


def line_counts(ctx: StackContext, start: int, end: int, note: str) -> FeedbackCounts:
    logs = ctx.clients.client("logs")
    counts: dict[str, Counter[str]] = {}
    read = 0
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=ctx.names.log_group,
        startTime=start * 1000,
        endTime=end * 1000,
        filterPattern=f'"{FEEDBACK_LINE}"',
        PaginationConfig={"MaxItems": MAX_LOG_EVENTS},
    )
    for page in pages:
        for event in page.get("events", []):
            read += 1
            record = parse_record(str(event.get("message", "")))
            if record is None or record.get("message") != FEEDBACK_LINE:
                continue
            if str(record.get("outcome", "")) in NOT_COUNTED:
                continue
            app = str(record.get("app") or UNATTRIBUTED)
            counts.setdefault(app, Counter())[_event_name(record.get("event"))] += 1
    apps = {app: dict(events) for app, events in sorted(counts.items())}
    return FeedbackCounts("log-lines", apps, truncated=read >= MAX_LOG_EVENTS, note=note)


EVENT_NAMES = {
    name.lower(): name
    for name in ("send", "delivery", "bounce", "complaint", "reject", "deliveryDelay", "renderingFailure")
}


def _event_name(value: Any) -> str:
    """The outbound.event name, however a line spells it: SES's ``Rendering Failure``, ``DELIVERY_DELAY``
    (the event destination's) and ``deliveryDelay`` (the message's) are the same event."""
    key = "".join(ch for ch in str(value or "unknown").lower() if ch.isalnum())
    return EVENT_NAMES.get(key, key or "unknown")


# the verdict ----------------------------------------------------------------------------------------
def judge(ctx: StackContext, state: SendingState) -> None:
    region = ctx.config.region
    account = state.account
    if account is not None:
        if not account.sending_enabled:
            state.problems.append(
                f"SES sending is paused for this account in {region} (enforcement {account.enforcement}): "
                "outbound mail fails until AWS resumes it (see the SES console's reputation page)"
            )
        elif account.enforcement not in ("HEALTHY", "UNKNOWN"):
            state.problems.append(
                f"SES has put this account under review in {region} (enforcement {account.enforcement}): "
                "bring the bounce and complaint rates down (see the SES console's reputation page)"
            )
        if not account.production_access:
            state.warnings.append(
                f"the account is in the SES sandbox in {region}: it sends only to verified addresses, at "
                f"most {account.max_24_hour_send:,.0f} a day (request production access in the SES console)"
            )
        quota = account.max_24_hour_send
        if quota > 0 and account.sent_last_24_hours >= QUOTA_WARNING_SHARE * quota:
            state.warnings.append(
                f"SES sent {account.sent_last_24_hours:,.0f} of its {quota:,.0f} messages a day in the last "
                "24 h: sends beyond the quota fail"
            )
    for rate in state.rates:
        shown = f"{rate.percent:.3g} %" if rate.percent is not None else ""
        if rate.level == "alarm":
            state.problems.append(
                f"the account's {rate.name} rate is {shown}, at or above {rate.alarm:g} % "
                "(alarms.reputation): SES reviews or pauses accounts whose rates stay high"
            )
        elif rate.level == "warn":
            state.warnings.append(f"the account's {rate.name} rate is {shown}, above {rate.warn:g} %")


def rate_text(rate: RateState) -> str:
    value = "no data yet" if rate.percent is None else f"{rate.percent:.3g} %"
    return f"{rate.name} rate {value} (warn {rate.warn:g} %, alarm {rate.alarm:g} %)"
