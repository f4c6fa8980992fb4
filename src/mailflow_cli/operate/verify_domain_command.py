"""Wiring and output of ``mailflow verify-domain``."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.operate import route53_records, verify_domain
from mailflow_cli.operate.dns_records import DnsRecord, normalise_domain, required_records
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.route53_records import RecordChange
from mailflow_cli.operate.timing import current_clock


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return verify_domain.permissions(scopes)


def route53_permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """With ``--route53``: the records are also written into the domain's hosted zone."""
    return (*verify_domain.permissions(scopes), *route53_records.permissions(scopes))


def run(
    ctx: StackContext,
    domain_text: str,
    *,
    route53: bool,
    replace_mx: bool,
    wait: bool,
    timeout: str,
    json_output: bool,
) -> None:
    domain = normalise_domain(domain_text)
    timeout_seconds = parse_duration(timeout, option="--timeout")
    warnings = verify_domain.domain_warnings(ctx.config, domain)
    for warning in warnings:
        err.print(styled(("Warning:", "yellow"), f" {warning}"))
    ses = ctx.clients.client("ses")
    started = verify_domain.start_verification(ses, domain)
    records = required_records(
        domain, ctx.config.region, started.token, started.dkim_tokens, ctx.config.alarms.email
    )
    changes: list[RecordChange] = []
    zone_name = None
    if route53:
        client = ctx.clients.client("route53")
        zone = route53_records.find_hosted_zone(client, domain)
        zone_name = zone.name
        changes = route53_records.apply_records(client, zone, records, replace_mx=replace_mx)
    if not json_output:
        out.print(_records_text(domain, records))
        if route53:
            out.print(_changes_table(zone_name or "", changes))
    status = verify_domain.read_status(ses, domain)
    failure = None
    if wait and not status.verified:
        try:
            status = _wait(ses, domain, timeout_seconds)
        except verify_domain.VerificationIncomplete as exc:
            failure = exc
            status = exc.status
    if json_output:
        print_json(
            _document(
                domain=domain,
                region=ctx.config.region,
                started=started,
                status=status,
                records=records,
                zone=zone_name,
                changes=changes,
                warnings=warnings,
            )
        )
    else:
        out.print(_status_line(status))
    if failure is not None:
        raise failure


def _wait(ses: Any, domain: str, timeout: float) -> verify_domain.IdentityStatus:
    with waiting(f"Waiting for SES to verify {domain}") as spinner:

        def show(status: verify_domain.IdentityStatus, elapsed: float) -> None:
            spinner.update(
                f"Waiting for SES to verify {domain}: verification {status.verification}, "
                f"DKIM {status.dkim} ({format_duration(elapsed)} of {format_duration(timeout)})"
            )

        return verify_domain.wait_until_verified(
            ses, domain, timeout=timeout, clock=current_clock(), on_poll=show
        )


def _records_text(domain: str, records: list[DnsRecord]) -> str:
    """Aligned plain lines: values are pasted into DNS consoles, so they are never folded."""
    rows = [("TYPE", "NAME", "VALUE", "PRIORITY", "PURPOSE")]
    rows += [
        (r.type, r.name, r.value, "" if r.priority is None else str(r.priority), r.purpose) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"DNS records to add for {domain}:"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)


def _changes_table(zone: str, changes: list[RecordChange]) -> Table:
    table = Table(title=f"Route 53 zone {zone}", title_justify="left")
    for column in ("Action", "Type", "Name", "Detail"):
        table.add_column(column, overflow="fold")
    styles = {"created": "green", "updated": "yellow", "unchanged": "dim", "kept": "cyan"}
    for change in changes:
        table.add_row(styled((change.action, styles[change.action])), change.type, change.name, change.detail)
    return table


def _status_line(status: verify_domain.IdentityStatus) -> Text:
    def colour(value: str) -> tuple[str, str]:
        return (value, "green" if value == verify_domain.SUCCESS else "yellow")

    return styled("Verification: ", colour(status.verification), "   DKIM: ", colour(status.dkim))


def _document(
    *,
    domain: str,
    region: str,
    started: verify_domain.VerificationStarted,
    status: verify_domain.IdentityStatus,
    records: list[DnsRecord],
    zone: str | None,
    changes: list[RecordChange],
    warnings: list[str],
) -> dict[str, object]:
    return {
        "domain": domain,
        "region": region,
        "verification": {"status": status.verification, "token": started.token},
        "dkim": {"status": status.dkim, "enabled": status.dkim_enabled, "tokens": started.dkim_tokens},
        "verified": status.verified,
        "records": [record.as_dict() for record in records],
        "route53": None if zone is None else {"zone": zone, "changes": [c.as_dict() for c in changes]},
        "warnings": warnings,
    }
