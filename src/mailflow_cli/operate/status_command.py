"""Output of ``mailflow status``: the sections on stdout, then the verdict (problems on stderr)."""

from __future__ import annotations

from rich.table import Table

from mailflow_cli.console import err, out, print_json
from mailflow_cli.context import StackContext
from mailflow_cli.operate.durations import format_duration
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.status import StatusReport, collect
from mailflow_cli.operate.timing import current_clock

OK = "[green]✓[/]"
BAD = "[red]✗[/]"


def run(ctx: StackContext, *, json_output: bool) -> bool:
    """Print the report; whether the stack is healthy."""
    with waiting(f"Checking {ctx.names.prefix} in {ctx.config.region}"):
        report = collect(ctx, current_clock().now())
    if json_output:
        print_json(report.as_dict())
    else:
        _print(ctx, report)
    return report.healthy


def _mark(good: bool) -> str:
    return OK if good else BAD


def _print(ctx: StackContext, report: StatusReport) -> None:
    out.print(f"[bold]{ctx.names.prefix}[/] in {ctx.config.region} ({ctx.config_path})")
    present = sum(1 for r in report.resources if r.state == "present")
    out.print(f"\n[bold]Resources[/]  {present} of {len(report.resources)} present and as configured")
    for resource in report.resources:
        if resource.state != "present":
            detail = f" ({resource.detail})" if resource.detail else ""
            out.print(f"  {BAD} {resource.kind} {resource.name}: {resource.state}{detail}")
    rules = report.rule_set
    if rules is not None:
        out.print("\n[bold]Receiving[/]")
        out.print(f"  {_mark(rules.active_set is not None)} active rule set: {rules.active_set or 'none'}")
        out.print(
            f"  {_mark(rules.rule_in_active_set and rules.rule_enabled)} rule {ctx.names.receipt_rule}: "
            + (
                "enabled"
                if rules.rule_enabled
                else "disabled"
                if rules.rule_in_active_set
                else "not in the active set"
            )
        )
    out.print("\n[bold]Domains[/]")
    for domain in report.domains:
        good = domain.verification == "Success" and domain.dkim == "Success"
        out.print(f"  {_mark(good)} {domain.domain}: verification {domain.verification}, DKIM {domain.dkim}")
    out.print(_queues_table(report))
    if report.handler is not None:
        handler = report.handler
        out.print(
            f"\n[bold]Handler, last 24 h[/]  {handler.invocations:g} invocations, "
            f"{handler.errors:g} errors, {handler.throttles:g} throttles"
        )
    out.print(f"[bold]Alarms in ALARM[/]  {', '.join(report.alarms) or 'none'}")
    if report.healthy:
        out.print(f"\n{OK} [bold green]Healthy:[/] mail is flowing.")
        return
    err.print(f"\n{BAD} [bold red]Needs attention:[/]", markup=True)
    for problem in report.problems:
        err.print(f"  - {problem}", markup=False)


def _queues_table(report: StatusReport) -> Table:
    table = Table(title="Queues", title_justify="left", title_style="bold")
    for column in ("Queue", "Role", "Visible", "In flight", "Oldest"):
        table.add_column(column, justify="right" if column in ("Visible", "In flight", "Oldest") else "left")
    for queue in report.queues:
        if queue.visible is None:
            table.add_row(queue.name, queue.role, "[red]missing[/]", "", "")
            continue
        alarm = queue.role.endswith("DLQ") and queue.visible
        oldest = "" if queue.oldest_age_seconds is None else format_duration(queue.oldest_age_seconds)
        visible = f"[red]{queue.visible}[/]" if alarm else str(queue.visible)
        table.add_row(queue.name, queue.role, visible, str(queue.in_flight), oldest)
    return table
