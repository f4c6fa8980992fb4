"""The live suite's steps, in order: deploy, plan shows no changes, verify-domain, send-test outbound to
SES's mailbox simulator (success and bounce), status, logs, destroy, and nothing left afterwards.

Each check reads the command's ``--json`` output (stdout); a step that does not behave raises
:class:`StepFailed`, and :func:`aws.runner.live_run` destroys the stack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws.runner import CliResult, LiveRun, StepFailed
from aws.settings import APP, LiveSettings

SIMULATOR_SUCCESS = "success@simulator.amazonses.com"
SIMULATOR_BOUNCE = "bounce@simulator.amazonses.com"
# Steps with a --timeout of their own get this much longer, so that the command's own timeout message
# (which says what it waited for and where to look) comes before the kill.
CLI_TIMEOUT_GRACE = 120.0
LOGS_WINDOW = "2h"
LOGS_POLL_SECONDS = 10.0
LEFTOVERS_POLL_SECONDS = 15.0


def run_sequence(run: LiveRun, settings: LiveSettings) -> None:
    timeouts = settings.timeouts
    deploy(run, timeouts.deploy)
    plan_shows_no_changes(run, timeouts.plan)
    verify_domain(run, settings)
    sent = send_outbound(run, "send-test to the success simulator", SIMULATOR_SUCCESS, timeouts.send)
    check_sent(sent, "send-test to the success simulator")
    bounced = send_outbound(run, "send-test to the bounce simulator", SIMULATOR_BOUNCE, timeouts.send)
    check_bounce_outcome(bounced)
    status_is_healthy(run, timeouts.status)
    logs_show_the_send(run, str(sent["correlationId"]), timeouts.logs)
    run.destroy()
    nothing_left(run, settings)


def deploy(run: LiveRun, timeout: float) -> None:
    step = "deploy"
    outputs = _json(step, run.step(step, ["deploy", "--yes", "--json"], timeout=timeout))
    if APP not in (outputs.get("appQueueUrls") or {}):
        raise StepFailed(step, f"the outputs have no queue URL for the app {APP!r}")


def plan_shows_no_changes(run: LiveRun, timeout: float) -> None:
    step = "plan shows no changes"
    result = run.step(step, ["plan", "--exit-code", "--json"], timeout=timeout, exit_codes=(0, 2))
    pending = [
        f"{change['action']} {change['kind']} {change['name']}"
        for change in _json(step, result).get("changes", [])
        if change.get("action") != "no-change"
    ]
    if result.returncode != 0 or pending:
        raise StepFailed(step, "a second plan right after deploy is not empty: " + "; ".join(pending))


def verify_domain(run: LiveRun, settings: LiveSettings) -> None:
    """Human output on purpose: the DNS records appear at once, so they can be added while it waits."""
    timeout = settings.timeouts.verify
    args = ["verify-domain", settings.domain, "--wait", "--timeout", _duration(timeout)]
    if settings.route53:
        args.append("--route53")
    run.step("verify-domain", args, timeout=timeout + CLI_TIMEOUT_GRACE)


def send_outbound(run: LiveRun, step: str, recipient: str, timeout: float) -> dict[str, Any]:
    args = ["send-test", APP, "--outbound", "--to", recipient, "--wait", "--timeout", _duration(timeout)]
    report = _json(step, run.step(step, [*args, "--json"], timeout=timeout + CLI_TIMEOUT_GRACE))
    if report.get("delivered") is not True:
        raise StepFailed(step, f"no outbound.status arrived on the {APP} queue")
    return report


def check_sent(report: dict[str, Any], step: str) -> None:
    """SES accepted the email: the handler put ``outbound.status`` ``sent`` with the SES id on the app's
    queue, for this request's correlationId."""
    status = report.get("message") or {}
    if status.get("type") != "outbound.status" or status.get("correlationId") != report.get("correlationId"):
        raise StepFailed(step, f"the message that arrived is not this request's outbound.status: {status}")
    if status.get("status") != "sent" or not status.get("sesMessageId"):
        raise StepFailed(step, f"status {status.get('status')!r}, error {status.get('error')!r}")


def check_bounce_outcome(report: dict[str, Any]) -> None:
    """EXTENSION POINT for bounce events. SES accepts mail to the bounce simulator and bounces it
    afterwards, so today the outcome is ``outbound.status`` ``sent``. When Mailflow delivers SES bounce
    notifications to the app (a later round), pass the run in, wait here (``run.poll``) for the bounce
    event that carries ``report["message"]["sesMessageId"]``, and check it."""
    check_sent(report, "send-test to the bounce simulator")


def status_is_healthy(run: LiveRun, timeout: float) -> None:
    step = "status"
    result = run.step(step, ["status", "--json"], timeout=timeout, exit_codes=(0, 1))
    report = _json(step, result)
    if result.returncode != 0 or report.get("healthy") is not True:
        raise StepFailed(step, "the stack is not healthy: " + "; ".join(report.get("problems", [])))


def logs_show_the_send(run: LiveRun, correlation_id: str, timeout: float) -> None:
    """The handler's structured log line for the send reaches CloudWatch (which takes a few seconds)."""
    step = "logs"
    pattern = f'{{ $.correlationId = "{correlation_id}" }}'

    def found(result: CliResult) -> bool:
        return any(correlation_id in str(event.get("message")) for event in _json_lines(step, result))

    args = ["logs", "--since", LOGS_WINDOW, "--filter", pattern, "--json"]
    run.poll(step, args, timeout=timeout, until=found, interval=LOGS_POLL_SECONDS)


def nothing_left(run: LiveRun, settings: LiveSettings) -> None:
    """After destroy, a plan wants to create every resource of the environment again. Polled, because
    SQS and S3 may still list a deleted queue or bucket for about a minute."""
    step = "nothing left after destroy"
    prefix = f"mailflow-{settings.environment}-"
    left: list[str] = []

    def all_gone(result: CliResult) -> bool:
        left[:] = _still_there(_json(step, result).get("changes", []), prefix)
        return not left

    timeout = settings.timeouts.leftovers
    try:
        run.poll(step, ["plan", "--json"], timeout=timeout, until=all_gone, interval=LEFTOVERS_POLL_SECONDS)
    except StepFailed as exc:
        if not left:
            raise
        raise StepFailed(step, f"{exc.reason}; still there: {'; '.join(left)}", exc.result) from None


def _still_there(changes: Sequence[dict[str, Any]], prefix: str) -> list[str]:
    return [
        f"{change['kind']} {change['name']}"
        for change in changes
        if prefix in str(change.get("name")) and change.get("action") != "create"
    ]


def _json(step: str, result: CliResult) -> dict[str, Any]:
    exited = f"exit {result.returncode}, and " if result.returncode else ""
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise StepFailed(step, f"{exited}stdout is not JSON ({exc})", result) from None
    if not isinstance(document, dict):
        raise StepFailed(step, f"{exited}stdout is not a JSON object", result)
    return document


def _json_lines(step: str, result: CliResult) -> list[dict[str, Any]]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return [_json(step, CliResult(result.args, result.returncode, line)) for line in lines]


def _duration(seconds: float) -> str:
    return f"{round(seconds)}s"
