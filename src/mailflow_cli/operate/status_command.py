"""Output of ``mailflow status``: the sections on stdout, then the verdict (problems on stderr)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.operate import status
from mailflow_cli.operate.durations import format_duration
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.render import terminal_text
from mailflow_cli.operate.status import StatusReport, collect
from mailflow_cli.operate.status_sending import FeedbackCounts, SendingState, rate_text
from mailflow_cli.operate.timing import current_clock

OK = ("✓", "green")
BAD = ("✗", "red")
WARN = ("!", "yellow")
RATE_MARKS = {"ok": OK, "no data": OK, "warn": WARN, "alarm": BAD}
FEEDBACK_COLUMNS = ("delivery", "bounce", "complaint", "reject", "deliveryDelay", "renderingFailure")


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """A plan (the resources' state) and the checks of :mod:`mailflow_cli.operate.status`."""
    from mailflow_cli.deploy import plan_permissions

    return (*plan_permissions(scopes), *status.permissions(scopes))


def run(ctx: StackContext, *, json_output: bool) -> bool:
    """Print the report; whether the stack is healthy."""
    with waiting(f"Checking {ctx.names.prefix} in {ctx.config.region}"):
        report = collect(ctx, current_clock().now())
    if json_output:
        print_json(report.as_dict())
    else:
        _print(ctx, report)
    return report.healthy


def _mark(good: bool) -> tuple[str, str]:
    return OK if good else BAD


def _print(ctx: StackContext, report: StatusReport) -> None:
    out.print(styled((ctx.names.prefix, "bold"), f" in {ctx.config.region} ({ctx.config_path})"))
    present = sum(1 for r in report.resources if r.state == "present")
    out.print(
        styled(
            "\n", ("Resources", "bold"), f"  {present} of {len(report.resources)} present and as configured"
        )
    )
    for resource in report.resources:
        if resource.state != "present":
            detail = f" ({resource.detail})" if resource.detail else ""
            out.print(styled("  ", BAD, f" {resource.kind} {resource.name}: {resource.state}{detail}"))
    rules = report.rule_set
    if rules is not None:
        out.print(styled("\n", ("Receiving", "bold")))
        out.print(
            styled(
                "  ", _mark(rules.active_set is not None), f" active rule set: {rules.active_set or 'none'}"
            )
        )
        state = (
            "enabled"
            if rules.rule_enabled
            else "disabled"
            if rules.rule_in_active_set
            else "not in the active set"
        )
        out.print(
            styled(
                "  ",
                _mark(rules.rule_in_active_set and rules.rule_enabled),
                f" rule {ctx.names.receipt_rule}: {state}",
            )
        )
    out.print(styled("\n", ("Domains", "bold")))
    for domain in report.domains:
        good = domain.verification == "Success" and domain.dkim == "Success"
        out.print(
            styled(
                "  ", _mark(good), f" {domain.domain}: verification {domain.verification}, DKIM {domain.dkim}"
            )
        )
    if report.sending is not None:
        _print_sending(ctx, report.sending)
    out.print(_queues_table(report))
    if report.handler is not None:
        handler = report.handler
        out.print(
            styled(
                "\n",
                ("Handler, last 24 h", "bold"),
                f"  {handler.invocations:g} invocations, {handler.errors:g} errors, "
                f"{handler.throttles:g} throttles",
            )
        )
    out.print(styled(("Alarms in ALARM", "bold"), f"  {', '.join(report.alarms) or 'none'}"))
    if report.healthy:
        out.print(styled("\n", OK, " ", ("Healthy:", "bold green"), " mail is flowing."))
    else:
        err.print(styled("\n", BAD, " ", ("Needs attention:", "bold red")))
        for problem in report.problems:
            err.print(f"  - {problem}")
    if report.warnings:
        err.print(styled("\n", WARN, " ", ("Worth knowing:", "bold yellow")))
        for warning in report.warnings:
            err.print(f"  - {warning}")


def _print_sending(ctx: StackContext, sending: SendingState) -> None:
    out.print(styled("\n", ("Sending", "bold"), f"  SES account in {ctx.config.region}"))
    account = sending.account
    if account is not None:
        access = "production access" if account.production_access else "in the SES sandbox"
        state = "sending enabled" if account.sending_enabled else "sending PAUSED"
        good = account.sending_enabled and account.enforcement in ("HEALTHY", "UNKNOWN")
        mark = (OK if account.production_access else WARN) if good else BAD
        out.print(styled("  ", mark, f" {access}, {state}, enforcement {account.enforcement}"))
        out.print(
            styled(
                "  ",
                OK,
                f" quota {account.sent_last_24_hours:,.0f} of {account.max_24_hour_send:,.0f} sent in the "
                f"last 24 h, at most {account.max_send_rate:g} a second",
            )
        )
    for rate in sending.rates:
        out.print(styled("  ", RATE_MARKS[rate.level], f" {rate_text(rate)}"))
    if sending.feedback is not None:
        out.print()
        out.print(_feedback_table(sending.feedback))


def _feedback_table(feedback: FeedbackCounts) -> Table:
    source = {"logs-insights": "Logs Insights", "log-lines": "the handler's log lines"}.get(
        feedback.source, "no logs"
    )
    table = Table(
        title=f"Outbound feedback, last 24 h ({source})",
        title_justify="left",
        title_style="bold",
        caption=feedback.note,
        caption_justify="left",
    )
    table.add_column("App")
    for column in (*FEEDBACK_COLUMNS, "other"):
        table.add_column(column, justify="right")
    for app, events in feedback.apps.items():
        other = sum(n for event, n in events.items() if event not in FEEDBACK_COLUMNS)
        at_least = "≥" if feedback.truncated else ""
        counts = [events.get(column, 0) for column in FEEDBACK_COLUMNS] + [other]
        table.add_row(terminal_text(app), *(f"{at_least}{n}" if n else "0" for n in counts))
    if not feedback.apps:
        table.add_row("(no events)", *([""] * (len(FEEDBACK_COLUMNS) + 1)))
    return table


def _queues_table(report: StatusReport) -> Table:
    table = Table(title="Queues", title_justify="left", title_style="bold")
    for column in ("Queue", "Role", "Visible", "In flight", "Oldest"):
        table.add_column(column, justify="right" if column in ("Visible", "In flight", "Oldest") else "left")
    for queue in report.queues:
        if queue.visible is None:
            table.add_row(queue.name, queue.role, styled(("missing", "red")), "", "")
            continue
        alarm = queue.role.endswith("DLQ") and queue.visible
        oldest = "" if queue.oldest_age_seconds is None else format_duration(queue.oldest_age_seconds)
        visible = styled((str(queue.visible), "red")) if alarm else Text(str(queue.visible))
        table.add_row(queue.name, queue.role, visible, str(queue.in_flight), oldest)
    return table
