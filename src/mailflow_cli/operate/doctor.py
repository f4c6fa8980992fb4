"""``mailflow doctor``: every check a user needs when mail does not flow, each ``ok``, ``warn`` or ``fail``
with one line of detail and, unless ok, one line of fix.

The checks read only. Those ``mailflow status`` also makes (receipt rules, domains, queues, alarms,
handler metrics) come from its collectors; doctor adds the account, the region, the rule's TLS policy,
MAIL FROM, the SES account (sandbox, paused sending, quota) and DNS. A check that cannot be made (an
AWS error) is a warning with the reason; without credentials the AWS checks stop at the first, which
fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from mailflow_cli.config import SES_RECEIVING_REGIONS
from mailflow_cli.context import StackContext
from mailflow_cli.errors import AwsError, MailflowError
from mailflow_cli.naming import SHARED_RULE_SET
from mailflow_cli.operate import status
from mailflow_cli.operate.doctor_dns import DnsClient, Status, check_domains
from mailflow_cli.operate.durations import format_duration

HANDLER_WINDOW = timedelta(hours=1)
QUOTA_WARN_SHARE = 0.8
MAX_DETAIL_CHARS = 200


@dataclass(frozen=True)
class Check:
    group: str
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    checks: list[Check]
    skipped: list[str]

    @property
    def failed(self) -> bool:
        return any(check.status == "fail" for check in self.checks)

    def counts(self) -> dict[str, int]:
        return {state: sum(1 for c in self.checks if c.status == state) for state in ("ok", "warn", "fail")}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "counts": self.counts(),
            "checks": [asdict(check) for check in self.checks],
            "skipped": self.skipped,
        }


def _ok(group: str, name: str, detail: str) -> Check:
    return Check(group, name, "ok", detail)


def _aws_failure(exc: Exception) -> tuple[str, str]:
    """(detail on one line, fix) for an AWS error met while checking."""
    from mailflow_cli.aws import error_code, translate_botocore_error, translate_client_error

    if isinstance(exc, MailflowError):
        error = exc
    elif hasattr(exc, "response"):
        error = translate_client_error(exc, "AWS")
        if error.hint is None:  # no advice for this error: its code, not a message that may be a web page
            error = AwsError(f"AWS: {getattr(exc, 'operation_name', 'the call')} failed: {error_code(exc)}")
    else:
        error = translate_botocore_error(exc)
    message = " ".join(error.message.split())
    if len(message) > MAX_DETAIL_CHARS:
        message = message[: MAX_DETAIL_CHARS - 3] + "..."
    return f"could not check: {message}", error.hint or (
        "check that the credentials may make this call (docs/permissions.md) and that the endpoint offers it"
    )


def _guarded(
    group: str, name: str, run: Callable[[], list[Check]], unchecked: Status = "warn"
) -> list[Check]:
    """The checks ``run`` makes; if AWS refuses to answer, one check with ``unchecked`` status saying so
    (a warning: what could not be read is unknown, not broken; the account check fails instead)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return run()
    except (MailflowError, ClientError, BotoCoreError) as exc:
        detail, fix = _aws_failure(exc)
        return [Check(group, name, unchecked, detail, fix)]


# account and region ----------------------------------------------------------------------------------
def account(ctx: StackContext) -> list[Check]:
    identity = ctx.clients.client("sts").get_caller_identity()
    return [_ok("account", "credentials", f"account {identity['Account']} as {identity.get('Arn', '?')}")]


def region(ctx: StackContext) -> list[Check]:
    name = ctx.config.region
    if name in SES_RECEIVING_REGIONS:
        return [_ok("receiving", "region", f"{name} receives mail with SES")]
    return [
        Check(
            "receiving",
            "region",
            "fail",
            f"{name} does not receive mail with SES",
            f"use one of {', '.join(sorted(SES_RECEIVING_REGIONS))} (region: in the config)",
        )
    ]


# receiving -------------------------------------------------------------------------------------------
def receipt_rules(ctx: StackContext) -> list[Check]:
    report = status.StatusReport()
    status.check_receipt_rules(ctx, report)
    rules = report.rule_set
    assert rules is not None  # check_receipt_rules always sets it
    expected = ctx.config.ses.rule_set or SHARED_RULE_SET
    rule = ctx.names.receipt_rule
    deploy = f"mailflow deploy -c {ctx.config_path}"
    if rules.active_set is None:
        return [
            Check(
                "receiving",
                "rule set",
                "fail",
                f"no receipt rule set is active in {ctx.config.region}: SES drops all inbound mail",
                f"{deploy} (activates {expected})",
            )
        ]
    checks: list[Check] = []
    if rules.active_set != expected:
        checks.append(
            Check(
                "receiving",
                "rule set",
                "fail",
                f"the active rule set is {rules.active_set}, not {expected}",
                f"set ses.ruleSet: {rules.active_set} (or ses.activateRuleSet: true), then {deploy}",
            )
        )
    else:
        checks.append(_ok("receiving", "rule set", f"{expected} is active"))
    if not rules.rule_in_active_set:
        checks.append(
            Check(
                "receiving",
                "rule",
                "fail",
                f"{rule} is not in the active set: this stack receives no mail",
                deploy,
            )
        )
        return checks
    if not rules.rule_enabled:
        checks.append(Check("receiving", "rule", "fail", f"{rule} is disabled", deploy))
    else:
        uncovered = [d for d in ctx.config.domains if d not in rules.recipients]
        if uncovered:
            checks.append(
                Check("receiving", "rule", "fail", f"{rule} does not cover {', '.join(uncovered)}", deploy)
            )
        else:
            checks.append(_ok("receiving", "rule", f"{rule} is enabled for {', '.join(rules.recipients)}"))
    wanted = "Require" if ctx.config.security.require_tls else "Optional"
    if rules.tls_policy != wanted:
        checks.append(
            Check(
                "receiving",
                "TLS policy",
                "warn",
                f"{rule} has TLS policy {rules.tls_policy or 'unset'}; the config asks for {wanted}",
                deploy,
            )
        )
    else:
        checks.append(_ok("receiving", "TLS policy", f"{wanted} (security.requireTls)"))
    return checks


# sending ---------------------------------------------------------------------------------------------
def domains(ctx: StackContext) -> list[Check]:
    report = status.StatusReport()
    status.check_domains(ctx, report)
    mail_from = ctx.clients.client("ses").get_identity_mail_from_domain_attributes(
        Identities=list(ctx.config.domains)
    )["MailFromDomainAttributes"]
    checks: list[Check] = []
    for state in report.domains:
        domain = state.domain
        if state.verification == "Success":
            checks.append(_ok("sending", f"{domain} verified", "verification Success"))
        else:
            checks.append(
                Check(
                    "sending",
                    f"{domain} verified",
                    "fail",
                    f"SES verification is {state.verification}: mail from {domain} is refused",
                    f"mailflow verify-domain {domain} --wait (add the TXT record it prints)",
                )
            )
        if state.dkim == "Success":
            checks.append(_ok("sending", f"{domain} DKIM", "DKIM Success"))
        else:
            checks.append(
                Check(
                    "sending",
                    f"{domain} DKIM",
                    "fail" if state.dkim == "Failed" else "warn",
                    f"DKIM is {state.dkim}: receivers cannot authenticate mail from {domain}",
                    f"add the three DKIM CNAMEs that mailflow verify-domain {domain} prints",
                )
            )
        checks.append(_mail_from(domain, mail_from.get(domain, {}), ctx.config.region))
    return checks


def _mail_from(domain: str, attributes: dict[str, Any], region: str) -> Check:
    name = f"{domain} MAIL FROM"
    custom = attributes.get("MailFromDomain")
    if not custom:
        return _ok("sending", name, "SES's own MAIL FROM domain (DMARC aligns through DKIM)")
    state = str(attributes.get("MailFromDomainStatus", "Pending"))
    if state == "Success":
        return _ok("sending", name, f"{custom} Success")
    rejects = attributes.get("BehaviorOnMXFailure") == "RejectMessage"
    return Check(
        "sending",
        name,
        "fail" if rejects and state in ("Failed", "TemporaryFailure") else "warn",
        f"{custom} is {state}"
        + ("; SES rejects sends until it succeeds" if rejects else "; SES falls back to its own"),
        f"publish MX 10 feedback-smtp.{region}.amazonses.com and "
        f'TXT "v=spf1 include:amazonses.com ~all" at {custom}',
    )


def ses_account(ctx: StackContext) -> list[Check]:
    detail = ctx.clients.client("sesv2").get_account()
    checks: list[Check] = []
    if detail.get("ProductionAccessEnabled"):
        checks.append(_ok("sending", "sandbox", "production access"))
    else:
        checks.append(
            Check(
                "sending",
                "sandbox",
                "warn",
                "the account is in the SES sandbox: mail goes only to verified addresses, in small numbers",
                "request production access (SES console, Account dashboard)",
            )
        )
    enforcement = str(detail.get("EnforcementStatus", "HEALTHY"))
    if not detail.get("SendingEnabled", True) or enforcement == "SHUTDOWN":
        checks.append(
            Check(
                "sending",
                "sending",
                "fail",
                f"sending is paused for the account (enforcement {enforcement}): nothing is sent",
                "see the SES console's reputation page; resume with aws sesv2 put-account-sending-attributes "
                "--sending-enabled once the cause is fixed",
            )
        )
    elif enforcement != "HEALTHY":
        checks.append(
            Check(
                "sending",
                "sending",
                "warn",
                f"enforcement status {enforcement}",
                "lower bounces and complaints (SES console, reputation page)",
            )
        )
    else:
        checks.append(_ok("sending", "sending", "enabled, enforcement HEALTHY"))
    checks.append(_quota(detail.get("SendQuota", {})))
    return checks


def _quota(quota: dict[str, Any]) -> Check:
    limit = float(quota.get("Max24HourSend", 0))
    sent = float(quota.get("SentLast24Hours", 0))
    if limit < 0:
        return _ok("sending", "quota", f"{sent:g} sent in 24 h, no daily limit")
    share = sent / limit if limit else 1.0
    detail = (
        f"{sent:g} of {limit:g} sent in the last 24 h ({share:.0%}), {float(quota.get('MaxSendRate', 0)):g}/s"
    )
    if share >= 1:
        return Check(
            "sending", "quota", "fail", detail + ": further sends are refused", "request a higher quota"
        )
    if share >= QUOTA_WARN_SHARE:
        return Check("sending", "quota", "warn", detail, "request a higher sending quota before it runs out")
    return _ok("sending", "quota", detail)


# the handler, queues and alarms ------------------------------------------------------------------------
def handler(ctx: StackContext, now: float) -> list[Check]:
    metrics = status.handler_metrics(ctx, now, HANDLER_WINDOW)
    logs = "mailflow logs --since 1h --filter ERROR"
    errors = (
        Check("handler", "errors", "fail", f"{metrics.errors:g} failed invocation(s) in the last hour", logs)
        if metrics.errors
        else _ok("handler", "errors", f"none in the last hour ({metrics.invocations:g} invocations)")
    )
    throttles = (
        Check(
            "handler",
            "throttles",
            "warn",
            f"{metrics.throttles:g} throttled invocation(s) in the last hour",
            "raise lambda.reservedConcurrency (or the account's concurrency limit)",
        )
        if metrics.throttles
        else _ok("handler", "throttles", "none in the last hour")
    )
    return [errors, throttles]


def queues(ctx: StackContext, now: float) -> list[Check]:
    report = status.StatusReport()
    status.check_queues(ctx, report, now)
    threshold = ctx.config.alarms.oldest_message_age_seconds
    checks: list[Check] = []
    for queue in report.queues:
        is_dlq = queue.role.endswith("DLQ")
        if not is_dlq and not queue.role.startswith("app"):
            continue
        name = queue.role if is_dlq else f"{queue.role.removeprefix('app ')} oldest message"
        if queue.visible is None:
            checks.append(
                Check(
                    "queues",
                    name,
                    "fail",
                    f"{queue.name} does not exist",
                    f"mailflow deploy -c {ctx.config_path}",
                )
            )
        elif is_dlq:
            checks.append(
                Check(
                    "queues",
                    name,
                    "warn",
                    f"{queue.visible} message(s) in {queue.name}",
                    "see what failed: mailflow dlq list; then mailflow dlq redrive or purge",
                )
                if queue.visible
                else _ok("queues", name, f"{queue.name} is empty")
            )
        elif queue.oldest_age_seconds is None:
            checks.append(_ok("queues", name, f"no age reported for {queue.name} in the last 15 minutes"))
        elif queue.oldest_age_seconds > threshold:
            checks.append(
                Check(
                    "queues",
                    name,
                    "warn",
                    f"{format_duration(queue.oldest_age_seconds)} old in {queue.name} "
                    f"(alarm at {format_duration(threshold)})",
                    f"is the app's consumer running? mailflow tail {queue.role.removeprefix('app ')}",
                )
            )
        else:
            checks.append(_ok("queues", name, f"{format_duration(queue.oldest_age_seconds)} in {queue.name}"))
    return checks


def alarms(ctx: StackContext) -> list[Check]:
    report = status.StatusReport()
    status.check_alarms(ctx, report)
    if not report.alarms:
        return [_ok("alarms", "alarms", "none in ALARM")]
    return [
        Check(
            "alarms",
            name,
            "fail",
            problem,
            f"see why in mailflow status -c {ctx.config_path}, then fix the cause",
        )
        for name, problem in zip(report.alarms, report.problems, strict=True)
    ]


# all of it --------------------------------------------------------------------------------------------
def run_checks(ctx: StackContext, now: float, dns: DnsClient | None) -> DoctorReport:
    """Every check, in the order a user would fix things; ``dns=None`` skips the DNS checks."""
    checks = _guarded("account", "credentials", lambda: account(ctx), unchecked="fail")
    skipped: list[str] = []
    if checks[0].status == "fail":
        skipped.append("AWS checks: the account check failed")
    else:
        checks += region(ctx)
        checks += _guarded("receiving", "rule set", lambda: receipt_rules(ctx))
        checks += _guarded("sending", "domains", lambda: domains(ctx))
        checks += _guarded("sending", "account", lambda: ses_account(ctx))
        checks += _guarded("handler", "metrics", lambda: handler(ctx, now))
        checks += _guarded("queues", "queues", lambda: queues(ctx, now))
        checks += _guarded("alarms", "alarms", lambda: alarms(ctx))
    if dns is None:
        skipped.append("DNS checks")
    else:
        for found in check_domains(list(ctx.config.domains), ctx.config.region, dns):
            checks.append(
                Check("dns", f"{found.domain} {found.name.upper()}", found.status, found.detail, found.fix)
            )
    return DoctorReport(checks=checks, skipped=skipped)
