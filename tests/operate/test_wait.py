"""`mailflow wait`: blocks until a matching message is on a queue, prints it, never consumes another;
deletes only the match with --delete; exit 1 on timeout, exit 2 on a path it cannot read.

SQS behaviour relied on: a received message is invisible for the VisibilityTimeout the receive asks for,
and ChangeMessageVisibility to 0 makes it visible again at once (ApproximateReceiveCount counts receives).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from operate_helpers import Cli, depth, inbound_message, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.errors import UsageError
from mailflow_cli.operate.timing import FakeClock
from mailflow_cli.operate.wait import MessageFilter, parse_match

APP1 = "mailflow-dev-app-app1"


def test_prints_the_matching_message_and_leaves_every_message_on_the_queue(
    stack: StackContext, cli: Cli
) -> None:
    put(stack, APP1, inbound_message("app1", "Invoice 41"))
    put(stack, APP1, inbound_message("app1", "Invoice 42"))
    put(stack, APP1, status_message("corr-7"))

    result = cli("wait", "app1", "--subject", "Invoice 42", "--json")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["queue"] == "app1"
    assert document["body"]["email"]["subject"] == "Invoice 42"
    assert "left on mailflow-dev-app-app1" in result.stderr
    assert depth(stack, APP1) == (3, 0), "nothing was consumed, and every held message is back"


def test_delete_removes_only_the_match(stack: StackContext, cli: Cli) -> None:
    put(stack, APP1, inbound_message("app1", "Keep me"))
    put(stack, APP1, status_message("corr-8", "failed"))
    put(stack, APP1, inbound_message("app1", "Keep me too"))

    result = cli("wait", "app1", "--match", "$.correlationId=corr-8", "--match", "$.retry=false", "--delete")

    assert result.exit_code == 0, result.stderr
    assert "failed: Email address is not verified." in result.stdout
    assert "deleted" in result.stderr
    sqs = stack.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=APP1)["QueueUrl"]
    remaining = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for message in remaining:  # consumed here, so the next test starts from an empty queue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(json.loads(m["Body"])["email"]["subject"] for m in remaining) == ["Keep me", "Keep me too"]


def test_from_matches_the_envelope_or_the_from_address(stack: StackContext, cli: Cli) -> None:
    put(stack, APP1, inbound_message("app1", "From Alice"))
    result = cli("wait", "app1", "--from", "ALICE@example.org", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["body"]["email"]["subject"] == "From Alice"


def test_waits_for_a_message_that_arrives_later(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    put(stack, APP1, inbound_message("app1", "Early"))

    def deliver_on_second_idle_poll(sleeps: int) -> None:
        if sleeps == 2:
            put(stack, APP1, inbound_message("app1", "Late arrival"))

    clock.on_sleep = deliver_on_second_idle_poll
    result = cli("wait", "app1", "--subject", "Late", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["body"]["email"]["subject"] == "Late arrival"
    assert len(clock.slept) == 2
    assert depth(stack, APP1) == (2, 0)


def test_times_out_with_exit_1_and_returns_what_it_held(
    stack: StackContext, cli: Cli, clock: FakeClock
) -> None:
    put(stack, APP1, inbound_message("app1", "Something else"))
    result = cli("wait", "app1", "--subject", "Never", "--timeout", "5s")
    assert result.exit_code == 1
    assert "a message (subject containing 'Never') did not reach mailflow-dev-app-app1 within 5.0s" in (
        " ".join(result.stderr.split())
    )
    assert sum(clock.slept) >= 5
    assert depth(stack, APP1) == (1, 0)


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("$.email.subject", "there is no '=' between the path and the value"),
        ("email.subject=x", "a path starts with $"),
        ("$.email..subject=x", "the path is not understood from '..subject'"),
        ("$.to[first]=x", "the path is not understood from '[first]'"),
        ("$['email']=x", "the path is not understood from \"['email']\""),
    ],
)
def test_a_path_it_cannot_read_exits_2_naming_it(
    stack: StackContext, cli: Cli, argument: str, problem: str
) -> None:
    result = cli("wait", "app1", "--match", argument)
    assert result.exit_code == 2
    assert problem in " ".join(result.stderr.split())
    assert f"--match {argument!r}" in " ".join(result.stderr.split())


def test_bad_timeout_and_unknown_queue_exit_2(stack: StackContext, cli: Cli) -> None:
    assert cli("wait", "app1", "--timeout", "soon").exit_code == 2
    assert cli("wait", "billing").exit_code == 2


SAMPLE: dict[str, Any] = {
    "type": "outbound.status",
    "attempt": 2,
    "retry": False,
    "error": None,
    "ratio": 1.5,
    "email": {"subject": "Re: Invoice", "to": [{"address": "a@example.com"}, {"address": "b@example.com"}]},
}


@pytest.mark.parametrize(
    ("argument", "holds"),
    [
        ("$.type=outbound.status", True),
        ("$.type=outbound", False),
        ("$.attempt=2", True),
        ("$.attempt=2.0", True),
        ("$.attempt=3", False),
        ("$.retry=false", True),
        ("$.retry=0", False),
        ("$.error=null", True),
        ("$.ratio=1.5", True),
        ("$.email.to[1].address=b@example.com", True),
        ("$.email.to[2].address=b@example.com", False),
        ("$.email.to.address=a@example.com", False),
        ("$.missing=x", False),
        ("$.email.subject=Re: Invoice", True),
        ("$.email.subject=Re: Invoice=x", False),
    ],
)
def test_match_compares_strings_as_text_and_other_values_as_json(argument: str, holds: bool) -> None:
    assert parse_match(argument).holds(SAMPLE) is holds


def test_every_filter_must_hold() -> None:
    message = inbound_message("app1", "Invoice 42")
    assert MessageFilter(subject="42", sender="Alice@Example.org")(message)
    assert not MessageFilter(subject="43", sender="alice@example.org")(message)
    assert not MessageFilter(sender="bob@example.org")(message)
    assert not MessageFilter(subject="42", matches=(parse_match("$.app=app2"),))(message)
    assert not MessageFilter(subject="x")("plain text body")
    assert MessageFilter()("plain text body"), "no filter: the first message"
    with pytest.raises(UsageError):
        parse_match("$.a[")
