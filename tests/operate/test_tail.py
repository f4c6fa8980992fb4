from __future__ import annotations

import json

from operate_helpers import Cli, depth, inbound_message, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.operate.timing import FakeClock


def test_shows_each_message_and_returns_it_to_the_queue(stack: StackContext, cli: Cli) -> None:
    put(stack, "mailflow-dev-app-app1", inbound_message("app1", "Invoice 42"))
    put(stack, "mailflow-dev-app-app1", status_message("corr-7", "failed"))

    result = cli("tail", "app1")

    assert result.exit_code == 0, result.stderr
    assert "From     Alice <alice@example.org>" in result.stdout
    assert "Subject  Invoice 42" in result.stdout
    assert "invoice.pdf (application/pdf, 120.6 KB)" in result.stdout
    assert "spam PASS  virus PASS  spf PASS  dkim GRAY  dmarc FAIL  flagged dmarc_fail" in result.stdout
    assert "failed: Email address is not verified." in result.stdout
    assert "each peek counts as one receive" in result.stderr
    assert "2 message(s) shown; 2 returned" in result.stderr
    assert depth(stack, "mailflow-dev-app-app1") == (2, 0)


def test_json_prints_one_document_per_line(stack: StackContext, cli: Cli) -> None:
    put(stack, "mailflow-dev-default", inbound_message("nobody", "Lost"))
    put(stack, "mailflow-dev-default", "not json at all")

    result = cli("tail", "default", "--json")

    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["kind"] for d in documents) == ["inbound.email", "text"]
    assert all(d["queue"] == "default" and d["receiveCount"] == 1 for d in documents)


def test_limit_stops_after_n(stack: StackContext, cli: Cli) -> None:
    for number in range(3):
        put(stack, "mailflow-dev-app-app2", status_message(f"c{number}"))
    result = cli("tail", "app2", "-n", "2", "--json")
    assert len(result.stdout.splitlines()) == 2
    assert depth(stack, "mailflow-dev-app-app2") == (3, 0)


def test_outbound_requests_are_recognised(stack: StackContext, cli: Cli) -> None:
    put(stack, "mailflow-dev-outbound", {"correlationId": "c1", "source": "app1", "email": {"subject": "Hi"}})
    result = cli("tail", "outbound", "--json")
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == ["outbound.request"]


def test_delete_consumes_the_messages(stack: StackContext, cli: Cli) -> None:
    put(stack, "mailflow-dev-app-app2", inbound_message("app2", "Bye"))
    result = cli("tail", "app2", "--delete")
    assert "Subject  Bye" in result.stdout
    assert "each peek counts" not in result.stderr
    assert depth(stack, "mailflow-dev-app-app2") == (0, 0)


def test_an_empty_queue_says_so(stack: StackContext, cli: Cli) -> None:
    result = cli("tail", "dlq:inbound")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "mailflow-dev-inbound-dlq is empty" in result.stderr


def test_follow_waits_for_new_messages(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    def deliver_on_third_idle_poll(sleeps: int) -> None:
        if sleeps == 3:
            put(stack, "mailflow-dev-app-app1", inbound_message("app1", "Late arrival"))

    clock.on_sleep = deliver_on_third_idle_poll
    result = cli("tail", "app1", "--follow", "-n", "1")
    assert "Late arrival" in result.stdout
    assert len(clock.slept) == 3


def test_unknown_queue_lists_the_choices(stack: StackContext, cli: Cli) -> None:
    result = cli("tail", "billing")
    assert result.exit_code == 2
    assert "'billing' is neither an app nor one of the stack's queues" in result.stderr
    assert "app1, app2, default, outbound, ses-events, dlq" in result.stderr


def test_missing_stack_is_a_clear_error(ghost: StackContext, cli: Cli) -> None:
    result = cli("tail", "app1")
    assert result.exit_code == 1
    assert "the stack mailflow-ghost is not deployed in eu-west-1 (run mailflow deploy -c" in result.stderr
    assert "Traceback" not in result.stderr
