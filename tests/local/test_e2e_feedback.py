"""Outbound feedback end to end on the emulator (issue 11.6): mail to SES's mailbox simulator comes back
to the sending app as ``outbound.event`` messages on its queue.

These tests need the whole of issue 11: the deploy side (configuration set ``mailflow-<env>`` with its
SNS event destination, the topic, the events queue and its mapping to the handler) and the handler side
(SendEmail through the configuration set with Mailflow's tags; SES events -> ``outbound.event``). They
pass once the deploy, handler and emulator branches are merged together, not on one of them alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .test_e2e import REPO, Stack, mailflow, stack, wait_for

__all__ = ["stack"]  # pytest finds the fixture here: test_e2e's emulator with the example deployed

pytestmark = pytest.mark.e2e

BOUNCE = "bounce@simulator.amazonses.com"
SUCCESS = "success@simulator.amazonses.com"


def event_for(correlation_id: str, event: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: (
        body.get("type") == "outbound.event"
        and body.get("correlationId") == correlation_id
        and body.get("event") == event
    )


def send_test(stack: Stack, to: str) -> dict[str, Any]:
    """`mailflow send-test app1 --outbound --to TO --local --wait`, as issue 11.6 shows it."""
    result = mailflow(
        stack.home,
        "send-test",
        "app1",
        "--outbound",
        "--to",
        to,
        "--local",
        "--wait",
        "--json",
        "-c",
        str(REPO / "mailflow.yaml.example"),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = dict(json.loads(result.stdout))
    assert report["delivered"] is True
    return report


def found_in(report: Any, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The first message in send-test's JSON report that ``accept`` takes, wherever it is nested."""
    pending: list[Any] = [report]
    while pending:
        item = pending.pop(0)
        if isinstance(item, dict):
            if accept(item):
                return item
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def arrived(stack: Stack, report: dict[str, Any], event: str) -> dict[str, Any] | None:
    """The ``outbound.event`` for the send-test's request: in its report when send-test waited for it
    too (and took it from the queue), else on app1's queue."""
    accept = event_for(report["correlationId"], event)
    return found_in(report, accept) or wait_for(
        stack.client("sqs"), stack.outputs["appQueueUrls"]["app1"], accept
    )


def schema() -> dict[str, Any]:
    path = REPO / "docs" / "schemas" / "outbound-event.schema.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_send_test_to_the_bounce_simulator_brings_a_bounce_event_to_app1(stack: Stack) -> None:
    report = send_test(stack, BOUNCE)
    body = arrived(stack, report, "bounce")
    assert body is not None, f"no outbound.event (bounce) for {report['correlationId']} on app1's queue"
    jsonschema.validate(body, schema())
    assert body["app"] == "app1"
    assert body["recipients"] == [BOUNCE]
    bounce = body["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "General")
    (recipient,) = bounce["recipients"]
    assert recipient["address"] == BOUNCE
    assert recipient["diagnosticCode"] == "smtp; 550 5.1.1 user unknown"


def test_send_test_to_the_success_simulator_brings_a_delivery_event_to_app1(stack: Stack) -> None:
    report = send_test(stack, SUCCESS)
    body = arrived(stack, report, "delivery")
    assert body is not None, f"no outbound.event (delivery) for {report['correlationId']} on app1's queue"
    jsonschema.validate(body, schema())
    assert body["recipients"] == [SUCCESS]
    status = found_in(report, lambda message: message.get("type") == "outbound.status")
    assert status is not None, "send-test --wait reports the outbound.status"
    assert body["sesMessageId"] == status["sesMessageId"], "the event names the message SES accepted"


def test_demo_exits_zero(tmp_path: Path) -> None:
    """`mailflow demo`, with its outbound feedback steps: one delivery and one bounce."""
    result = mailflow(tmp_path / "home", "demo", timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Every step behaved as shown." in result.stderr
    assert "outbound.status on app1's queue" in result.stdout
    assert '"status": "sent"' in result.stdout
    assert "mailflow-dev-outbound-dlq" in result.stdout
    assert result.stdout.count("outbound.event on app1's queue") == 2
    assert '"event": "delivery"' in result.stdout
    assert '"event": "bounce"' in result.stdout
