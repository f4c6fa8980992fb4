"""Wiring and output of ``mailflow doctor``."""

from __future__ import annotations

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.operate.doctor import Check, DoctorReport, run_checks
from mailflow_cli.operate.doctor_dns import DnsClient
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.timing import current_clock

MARKS = {"ok": ("✓ ok  ", "green"), "warn": ("! warn", "yellow"), "fail": ("✗ fail", "bold red")}


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """What ``status`` reads, plus the domains' MAIL FROM set-up and the SES account (sandbox, paused
    sending, quota); neither has resource-level permissions."""
    from mailflow_cli.operate import status_command

    return (
        *status_command.permissions(scopes),
        allow(scopes.any, "ses:GetIdentityMailFromDomainAttributes", "ses:GetAccount"),
    )


def run(ctx: StackContext, *, no_dns: bool, json_output: bool, dns: DnsClient | None = None) -> bool:
    """Print the checks; whether none failed. DNS is skipped with ``no_dns`` and with ``--local`` (the
    emulator receives mail without DNS)."""
    resolver = None if no_dns or ctx.local else (dns or DnsClient())
    with waiting(f"Checking {ctx.names.prefix} in {ctx.config.region}"):
        report = run_checks(ctx, current_clock().now(), resolver)
    if ctx.local and not no_dns:
        report.skipped[-1] = "DNS checks (--local: the emulator receives mail without DNS)"
    if json_output:
        print_json(report.as_dict())
    else:
        _print(ctx, report)
    return not report.failed


def _print(ctx: StackContext, report: DoctorReport) -> None:
    out.print(styled((ctx.names.prefix, "bold"), f" in {ctx.config.region} ({ctx.config_path})"))
    group = ""
    for check in report.checks:
        if check.group != group:
            group = check.group
            out.print(styled("\n", (group, "bold")))
        out.print(_line(check))
        if check.fix:
            out.print(styled(("           fix: ", "dim"), check.fix))
    counts = report.counts()
    summary = f"\n{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
    skipped = "".join(f"; skipped: {what}" for what in report.skipped)
    out.print(styled((summary, "bold red" if report.failed else "bold"), skipped))
    if report.failed:
        err.print("Mail may not flow: fix the failed checks above (each says how).")


def _line(check: Check) -> object:
    mark, style = MARKS[check.status]
    return styled("  ", (mark, style), f" {check.name}: ", check.detail)
