"""Wiring and output of ``mailflow send-test``."""

from __future__ import annotations

import json
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.errors import MailflowError, UsageError
from mailflow_cli.operate import queue_wait, send_test, stack
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.queue_wait import Found, wait_for_message
from mailflow_cli.operate.render import terminal_text
from mailflow_cli.operate.stack import QueueRef, app_queue, queue_url
from mailflow_cli.operate.timing import current_clock


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Inbound: a send through SES; --outbound: a message on the outbound queue; --wait: the app's
    queue, the test message deleted."""
    return (
        *stack.permissions(scopes),
        *send_test.permissions(scopes),
        allow(scopes.outbound_queue, "sqs:SendMessage"),
        *queue_wait.permissions(scopes.queues),
    )


class DeliveryTimeout(MailflowError):
    exit_code = 1


def run(
    ctx: StackContext,
    app: str,
    *,
    outbound: bool,
    to: str | None,
    sender: str | None,
    domain: str | None,
    wait: bool,
    timeout: str,
    status_only: bool = False,
    json_output: bool,
) -> None:
    timeout_seconds = parse_duration(timeout, option="--timeout")
    queue = app_queue(ctx, app)
    chosen_domain = send_test.choose_domain(ctx.config, domain)
    test_id = send_test.new_test_id()
    if status_only and not (outbound and wait):
        raise UsageError("--status-only is only for --outbound --wait")
    if outbound:
        if to is None:
            raise UsageError("--outbound needs --to ADDRESS (where the test email goes)")
        report = _send_outbound(ctx, queue, chosen_domain, to, test_id)
        matcher = send_test.status_matcher(str(report["correlationId"]))
        what = f"the outbound.status for {report['correlationId']}"
    else:
        if to is not None:
            raise UsageError("--to is only for --outbound; inbound tests go to _<app>@<domain>")
        report = _send_inbound(ctx, queue, chosen_domain, sender, test_id)
        matcher = send_test.inbound_matcher(test_id)
        what = "the test email"
    if not wait:
        _finish(report, json_output)
        if not json_output:
            err.print(f"Watch it arrive with `mailflow tail {queue.label}` (or use --wait).")
        return
    found = _wait(ctx, queue, matcher, what, timeout_seconds)
    if found is None:
        report["delivered"] = False
        _finish(report, json_output)
        raise _timeout(ctx, queue, what, timeout_seconds, outbound)
    report["delivered"] = True
    report["latencySeconds"] = round(found.waited, 3)
    report["message"] = found.body
    event = None
    wants_event = outbound and not status_only and found.body.get("status") == "sent"
    if wants_event:
        event = _wait_for_event(ctx, queue, str(report["correlationId"]), timeout_seconds - found.waited)
        report["event"] = None if event is None else event.body
        if event is not None:
            report["eventLatencySeconds"] = round(found.waited + event.waited, 3)
    _finish(report, json_output)
    if not json_output:
        _describe_arrival(queue, found, outbound)
        if event is not None:
            _describe_event(found.waited + event.waited, event.body)
    if wants_event and event is None:
        raise _no_event(ctx, queue, report, timeout_seconds)


def _wait_for_event(
    ctx: StackContext, queue: QueueRef, correlation_id: str, remaining: float
) -> Found | None:
    """What SES said happened next (delivered, bounced, ...), as the handler put it on the app's queue."""
    what = f"SES's delivery or bounce event for {correlation_id}"
    return _wait(ctx, queue, send_test.event_matcher(correlation_id), what, max(remaining, 0.0))


def _describe_event(latency: float, body: dict[str, Any]) -> None:
    event = str(body.get("event", "?"))
    good = event in ("delivery", "deliveryDelay")
    out.print(
        styled(
            (f"SES: {terminal_text(event)}", "green" if good else "red"),
            f" after {format_duration(latency)} ({terminal_text(send_test.event_summary(body))}; "
            "the event was deleted).",
        )
    )


def _no_event(ctx: StackContext, queue: QueueRef, report: dict[str, Any], timeout: float) -> DeliveryTimeout:
    config_flag = f" -c {ctx.config_path}"
    return DeliveryTimeout(
        f"SES accepted the test email (SES message id {report['message'].get('sesMessageId')}), but no "
        f"delivery or bounce event for it reached {queue.name} within {format_duration(timeout)}",
        details=[
            f"the SES events queue: `mailflow tail ses-events{config_flag}`",
            f"the events DLQ: `mailflow dlq show events{config_flag}`",
            f"the handler's logs: `mailflow logs --since 10m --filter '\"outbound event\"'{config_flag}`",
            f"the configuration set and the account's sending state: `mailflow status{config_flag}`",
        ],
        hint="the receiving server may still be deciding: wait longer with --timeout",
    )


def _send_inbound(
    ctx: StackContext, queue: QueueRef, domain: str, sender: str | None, test_id: str
) -> dict[str, Any]:
    test = send_test.inbound_test(queue.label, domain, sender, test_id)
    sent_at = send_test.utc(current_clock().now())
    message_id = send_test.send_inbound(ctx.clients.client("ses"), test, sent_at)
    return {
        "direction": "inbound",
        "app": queue.label,
        "testId": test_id,
        "from": test.sender,
        "to": test.recipient,
        "subject": test.subject,
        "sesMessageId": message_id,
        "queue": queue.name,
    }


def _send_outbound(ctx: StackContext, queue: QueueRef, domain: str, to: str, test_id: str) -> dict[str, Any]:
    request = send_test.outbound_request(
        queue.label, domain, to, test_id, send_test.utc(current_clock().now())
    )
    outbound_url = queue_url(ctx, ctx.names.outbound_queue)
    response = ctx.clients.client("sqs").send_message(QueueUrl=outbound_url, MessageBody=json.dumps(request))
    return {
        "direction": "outbound",
        "app": queue.label,
        "testId": test_id,
        "correlationId": request["correlationId"],
        "from": request["email"]["from"]["address"],
        "to": to,
        "subject": request["email"]["subject"],
        "sqsMessageId": response["MessageId"],
        "queue": queue.name,
    }


def _wait(ctx: StackContext, queue: QueueRef, matcher: Any, what: str, timeout: float) -> Found | None:
    with waiting(f"Waiting for {what} on {queue.name}") as spinner:
        return wait_for_message(
            ctx.clients.client("sqs"),
            queue.url,
            matcher,
            timeout=timeout,
            clock=current_clock(),
            on_poll=lambda elapsed: spinner.update(
                f"Waiting for {what} on {queue.name} "
                f"({format_duration(elapsed)} of {format_duration(timeout)})"
            ),
        )


def _finish(report: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(report)
        return
    if report["direction"] == "inbound":
        out.print(
            f"Sent {report['subject']!r} from {report['from']} to {report['to']} "
            f"(SES id {report['sesMessageId']})"
        )
    else:
        out.print(
            f"Queued an outbound email from {report['from']} to {report['to']} "
            f"(correlationId {report['correlationId']})"
        )


def _describe_arrival(queue: QueueRef, found: Found, outbound: bool) -> None:
    latency = format_duration(found.waited)
    if not outbound:
        out.print(
            styled(
                ("Delivered", "green"), f" to {queue.name} after {latency} (the test message was deleted)."
            )
        )
        return
    body = found.body
    if body.get("status") == "sent":
        out.print(
            styled(("Sent", "green"), f" by SES after {latency} (SES message id {body.get('sesMessageId')}).")
        )
    else:
        error = body.get("error")
        detail = error.get("message", error) if isinstance(error, dict) else error
        out.print(styled(("Failed", "red"), f" after {latency}: {detail}"))


def _timeout(
    ctx: StackContext, queue: QueueRef, what: str, timeout: float, outbound: bool
) -> DeliveryTimeout:
    config_flag = f" -c {ctx.config_path}"
    if outbound:
        places = [
            f"the outbound queue: `mailflow tail outbound{config_flag}`",
            f"the outbound DLQ: `mailflow dlq show outbound{config_flag}`",
            f"the handler's logs: `mailflow logs --since 10m{config_flag}`",
        ]
    else:
        places = [
            f"the default queue (mail for unknown addresses): `mailflow tail default{config_flag}`",
            f"the dead-letter queues: `mailflow dlq list{config_flag}`",
            f"the handler's logs: `mailflow logs --since 10m{config_flag}`",
            f"the receipt rule and domain verification: `mailflow status{config_flag}`",
            f"if {queue.label}'s own consumer is running, it may have taken the message first",
        ]
    return DeliveryTimeout(
        f"{what} did not reach {queue.name} within {format_duration(timeout)}",
        details=places,
        hint="look in the places above, or wait longer with --timeout",
    )
