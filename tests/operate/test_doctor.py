"""`mailflow doctor`: each check ok, warn or fail with its detail and fix, against the moto stack.

DNS goes through dnspython to a DNS server on 127.0.0.1 (fake_dns.py), so the lookups, their timeouts
and their answers are real and no test needs a network. AWS-only states moto cannot hold (a paused or
probation account, a used-up quota) come from botocore's Stubber with GetAccount's documented shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_dns import dns_server, healthy_records
from operate_helpers import Cli, put

from mailflow_cli.context import StackContext, open_stack
from mailflow_cli.operate import doctor, doctor_command
from mailflow_cli.operate.doctor_dns import DnsClient
from mailflow_cli.operate.timing import FakeClock

DOMAINS = ("example.com", "example.org")


@pytest.fixture
def dns_records(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[tuple[str, str], list[str]]]:
    """Healthy records for both domains, served on 127.0.0.1; the test may change them first."""
    records = healthy_records(DOMAINS)
    with dns_server(records) as (port, _):
        monkeypatch.setattr(doctor_command, "DnsClient", lambda: DnsClient(["127.0.0.1"], port))
        yield records


def doctor_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("doctor", "--json", *args)
    document: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, document


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in document["checks"]}


def test_a_healthy_stack(stack: StackContext, cli: Cli, dns_records: Any) -> None:
    code, document = doctor_json(cli)
    assert code == 0
    checks = by_name(document)
    assert checks["credentials"]["detail"].startswith("account 123456789012 as arn:aws:")
    assert checks["region"]["detail"] == "eu-west-1 receives mail with SES"
    assert checks["rule set"]["detail"] == "mailflow-receipt-rules is active"
    assert checks["rule"]["detail"] == "mailflow-dev-inbound is enabled for example.com, example.org"
    assert checks["TLS policy"]["detail"] == "Require (security.requireTls)"
    assert checks["example.org DKIM"]["status"] == "ok"
    assert checks["example.com MX"]["detail"] == "MX 10 inbound-smtp.eu-west-1.amazonaws.com"
    assert checks["example.com SPF"]["detail"] == "SPF v=spf1 include:amazonses.com ~all"
    assert checks["example.org DMARC"]["detail"] == "DMARC v=DMARC1; p=quarantine"
    assert checks["apps DLQ"]["detail"] == "mailflow-dev-apps-dlq is empty"
    assert checks["errors"]["detail"] == "none in the last hour (0 invocations)"
    # moto's new account is in the sandbox (AWS: every new account is)
    assert [c["name"] for c in document["checks"] if c["status"] != "ok"] == ["sandbox"]
    assert document["counts"] == {"ok": len(document["checks"]) - 1, "warn": 1, "fail": 0}
    assert all(c["fix"] == "" for c in document["checks"] if c["status"] == "ok")
    assert all(c["fix"] for c in document["checks"] if c["status"] != "ok")


def test_the_human_report_and_the_fix_lines(stack: StackContext, cli: Cli, dns_records: Any) -> None:
    dns_records[("example.org", "MX")] = ["10 mx.provider.example."]
    result = cli("doctor")
    assert result.exit_code == 1
    assert "  ✓ ok   rule set: mailflow-receipt-rules is active" in result.stdout
    assert "  ! warn sandbox: the account is in the SES sandbox" in result.stdout
    assert (
        "  ✗ fail example.org MX: MX of example.org is 10 mx.provider.example, not "
        "inbound-smtp.eu-west-1.amazonaws.com" in result.stdout
    )
    assert (
        "           fix: set the MX of example.org to 10 inbound-smtp.eu-west-1.amazonaws.com "
        "(mailflow verify-domain example.org prints it)" in result.stdout
    )
    assert "Mail may not flow: fix the failed checks above" in result.stderr


def test_no_active_rule_set_and_a_disabled_rule_fail(stack: StackContext, cli: Cli) -> None:
    ses = stack.clients.client("ses")
    ses.set_active_receipt_rule_set()
    try:
        code, document = doctor_json(cli, "--no-dns")
    finally:
        ses.set_active_receipt_rule_set(RuleSetName="mailflow-receipt-rules")
    assert code == 1
    check = by_name(document)["rule set"]
    assert check["status"] == "fail"
    assert check["detail"] == "no receipt rule set is active in eu-west-1: SES drops all inbound mail"
    assert check["fix"].endswith("(activates mailflow-receipt-rules)")
    rule = ses.describe_receipt_rule(RuleSetName="mailflow-receipt-rules", RuleName="mailflow-dev-inbound")[
        "Rule"
    ]
    ses.update_receipt_rule(
        RuleSetName="mailflow-receipt-rules", Rule={**rule, "Enabled": False, "TlsPolicy": "Optional"}
    )
    try:
        code, document = doctor_json(cli, "--no-dns")
    finally:
        ses.update_receipt_rule(RuleSetName="mailflow-receipt-rules", Rule=rule)
    checks = by_name(document)
    assert code == 1
    assert (checks["rule"]["status"], checks["rule"]["detail"]) == (
        "fail",
        "mailflow-dev-inbound is disabled",
    )
    assert checks["TLS policy"]["status"] == "warn"
    assert (
        checks["TLS policy"]["detail"]
        == "mailflow-dev-inbound has TLS policy Optional; the config asks for Require"
    )


def test_an_unverified_domain_fails(stack: StackContext, cli: Cli) -> None:
    ses = stack.clients.client("ses")
    ses.delete_identity(Identity="example.org")
    try:
        code, document = doctor_json(cli, "--no-dns")
    finally:
        ses.verify_domain_identity(Domain="example.org")
        ses.verify_domain_dkim(Domain="example.org")
    assert code == 1
    check = by_name(document)["example.org verified"]
    assert check["status"] == "fail"
    assert check["detail"] == "SES verification is NotStarted: mail from example.org is refused"
    assert by_name(document)["example.org DKIM"]["status"] == "warn"


def test_dns_problems_each_say_what_to_publish(
    stack: StackContext, dns_records: dict[tuple[str, str], list[str]]
) -> None:
    del dns_records[("_dmarc.example.org", "TXT")]
    dns_records[("example.org", "TXT")] = ['"v=spf1 a ~all"', '"v=spf1 mx ~all"']
    dns_records[("example.com", "MX")] = ["5 backup.example.", "10 inbound-smtp.eu-west-1.amazonaws.com."]
    with dns_server(dns_records) as (port, asked):
        found = doctor.run_checks(stack, 1_800_000_000.0, DnsClient(["127.0.0.1"], port))
    checks = {c.name: c for c in found.checks if c.group == "dns"}
    assert [(name, c.status) for name, c in checks.items()] == [
        ("example.com MX", "warn"),
        ("example.com SPF", "ok"),
        ("example.com DMARC", "ok"),
        ("example.org MX", "ok"),
        ("example.org SPF", "warn"),
        ("example.org DMARC", "warn"),
    ]
    assert (
        checks["example.com MX"].fix
        == "leave only inbound-smtp.eu-west-1.amazonaws.com as the lowest MX preference"
    )
    assert "2 SPF records" in checks["example.org SPF"].detail
    assert checks["example.org DMARC"].detail == "_dmarc.example.org has no DMARC record"
    assert sorted(asked) == sorted(
        f"{name} {kind}"
        for domain in DOMAINS
        for name, kind in ((domain, "MX"), (domain, "TXT"), (f"_dmarc.{domain}", "TXT"))
    )


def test_no_dns_answer_is_a_warning_not_a_hang(stack: StackContext) -> None:
    """A server that never answers: each lookup gives up after its timeout and one retry."""
    with dns_server({}, silent=True) as (port, asked):
        found = doctor.run_checks(stack, 1_800_000_000.0, DnsClient(["127.0.0.1"], port, timeout=0.1))
    dns_checks = [c for c in found.checks if c.group == "dns"]
    assert len(dns_checks) == 6
    assert {c.status for c in dns_checks} == {"warn"}
    assert (
        dns_checks[0].detail
        == "could not resolve the MX of example.com (no answer within 0.1 s, 2 attempt(s))"
    )
    assert dns_checks[0].fix == "check this machine's network and DNS, or pass --no-dns"
    assert len(asked) == 12  # 6 lookups, each tried twice
    assert not found.failed


def test_no_dns_skips_the_lookups(stack: StackContext, cli: Cli) -> None:
    code, document = doctor_json(cli, "--no-dns")
    assert code == 0
    assert document["skipped"] == ["DNS checks"]
    assert not [c for c in document["checks"] if c["group"] == "dns"]


def test_handler_errors_dlq_messages_and_alarms(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    clock.time = time.time()  # the metrics are put now
    cloudwatch = stack.clients.client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "FunctionName", "Value": "mailflow-dev-handler"}],
             "Timestamp": datetime.now(UTC) - timedelta(minutes=1), "Value": value}
            for name, value in (("Errors", 3.0), ("Throttles", 2.0), ("Invocations", 40.0))
        ],
    )  # fmt: skip
    put(stack, "mailflow-dev-inbound-dlq", {"type": "inbound.failure", "sesMessageId": "x"})
    alarm = cloudwatch.describe_alarms(AlarmNamePrefix="mailflow-dev")["MetricAlarms"][0]["AlarmName"]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="Threshold crossed")
    try:
        code, document = doctor_json(cli, "--no-dns")
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="reset")
    checks = by_name(document)
    assert code == 1
    assert (checks["errors"]["status"], checks["errors"]["detail"]) == (
        "fail",
        "3 failed invocation(s) in the last hour",
    )
    assert checks["errors"]["fix"] == "mailflow logs --since 1h --filter ERROR"
    assert (checks["throttles"]["status"], checks["throttles"]["detail"]) == (
        "warn",
        "2 throttled invocation(s) in the last hour",
    )
    assert (checks["inbound DLQ"]["status"], checks["inbound DLQ"]["detail"]) == (
        "warn",
        "1 message(s) in mailflow-dev-inbound-dlq",
    )
    assert checks[alarm]["status"] == "fail"
    assert checks[alarm]["detail"] == f"alarm {alarm} is in ALARM: Threshold crossed"


def _stubbed_account(stack: StackContext, response: dict[str, Any]) -> list[doctor.Check]:
    from botocore.stub import Stubber

    sesv2 = stack.clients.client("sesv2")
    with Stubber(sesv2) as stubber:
        stubber.add_response("get_account", response)
        return doctor.ses_account(stack)


def test_paused_sending_probation_and_the_quota(stack: StackContext) -> None:
    quota = {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 45000.0}
    checks = _stubbed_account(
        stack,
        {
            "ProductionAccessEnabled": True,
            "SendingEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "SendQuota": quota,
        },
    )
    assert [(c.name, c.status) for c in checks] == [("sandbox", "ok"), ("sending", "fail"), ("quota", "warn")]
    assert checks[1].detail == "sending is paused for the account (enforcement HEALTHY): nothing is sent"
    assert checks[2].detail == "45000 of 50000 sent in the last 24 h (90%), 14/s"
    checks = _stubbed_account(
        stack,
        {"ProductionAccessEnabled": True, "SendingEnabled": True, "EnforcementStatus": "PROBATION",
         "SendQuota": {**quota, "SentLast24Hours": 50000.0}},
    )  # fmt: skip
    assert [(c.name, c.status) for c in checks] == [("sandbox", "ok"), ("sending", "warn"), ("quota", "fail")]


def test_rejected_credentials_stop_the_aws_checks(
    stack: StackContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def rejected(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InvalidClientTokenId", "Message": "bad"}}, "GetCallerIdentity")

    rejecting = open_stack(stack.config_path)
    monkeypatch.setattr(rejecting.clients.client("sts"), "get_caller_identity", rejected)
    found = doctor.run_checks(rejecting, 1_800_000_000.0, None)
    assert [(c.name, c.status) for c in found.checks] == [("credentials", "fail")]
    assert (
        found.checks[0].detail
        == "could not check: AWS: the AWS credentials were rejected (InvalidClientTokenId)"
    )
    assert found.checks[0].fix == "refresh them (for SSO: aws sso login) or choose another --profile"
    assert found.skipped == ["AWS checks: the account check failed", "DNS checks"]


def test_a_missing_stack_fails_its_checks(ghost: StackContext, cli: Cli) -> None:
    code, document = doctor_json(cli, "--no-dns")
    assert code == 1
    checks = by_name(document)
    assert checks["rule"]["detail"].startswith("mailflow-ghost-inbound is not in the active set")
    assert checks["app1 oldest message"]["detail"] == "mailflow-ghost-app-app1 does not exist"


def test_a_check_aws_will_not_answer_is_a_one_line_warning(
    stack: StackContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def denied(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not\nallowed"}}, "GetAccount"
        )

    monkeypatch.setattr(stack.clients.client("sesv2"), "get_account", denied)
    found = doctor.run_checks(stack, 1_800_000_000.0, None)
    (check,) = [c for c in found.checks if c.name == "account"]
    assert (check.status, check.detail) == (
        "warn",
        "could not check: AWS: access denied for GetAccount (not allowed)",
    )
    assert check.fix.startswith("the credentials in use lack this permission: `mailflow permissions` prints")
    assert not found.failed


def test_an_error_without_advice_is_named_by_its_code(
    stack: StackContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint without the API answers 404 with a web page: the detail names the code, not the page."""
    from botocore.exceptions import ClientError

    def missing(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "404", "Message": "<!doctype html>\n<h1>Not Found</h1>"}}, "GetAccount"
        )

    monkeypatch.setattr(stack.clients.client("sesv2"), "get_account", missing)
    (check,) = [c for c in doctor.run_checks(stack, 1_800_000_000.0, None).checks if c.name == "account"]
    assert (check.status, check.detail) == ("warn", "could not check: AWS: GetAccount failed: 404")
    assert check.fix.startswith("check that the credentials may make this call (docs/permissions.md)")
