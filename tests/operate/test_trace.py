"""`mailflow trace`: timelines from log lines in contract L's shape, the idempotency item (C2) and S3.

The stack is moto's (mock_aws). AWS behaviour relied on: Logs Insights evaluates the query's `filter`
commands server-side and FilterLogEvents its term pattern; moto's Insights evaluates neither (it returns
every event in the window) and its FilterLogEvents only single quoted terms, so these tests prove that
the CLI checks every line itself and that the window is what limits the search.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from operate_helpers import Cli
from trace_data import (
    contract_hash,
    drop_hash_key,
    event_line,
    inbound_line,
    outbound_line,
    remember,
    route,
    ses_record,
    store_hash_key,
    store_raw,
    write_lines,
)
from trace_data import fresh_id as new_id

from mailflow_cli.context import StackContext
from mailflow_cli.operate.address_hash import address_hash
from mailflow_cli.operate.timing import Clock, FakeClock
from mailflow_cli.operate.trace_logs import FILTER_LOG_EVENTS, INSIGHTS, Window, search
from mailflow_cli.operate.trace_query import build_query

AwsCalls = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def now(clock: FakeClock) -> float:
    """moto refuses log events far from the present, so this clock starts at the real time."""
    clock.time = time.time()
    return clock.time


def trace_json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("trace", *args, "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_an_ses_id_finds_the_email_with_its_route_delivery_and_stored_state(
    stack: StackContext, cli: Cli, now: float
) -> None:
    ses_id = new_id()
    routes = [
        route("app1", tag="invoices", sqs_id="sqs-app1"),
        route("default", why="default", sqs_id="sqs-def"),
    ]
    write_lines(
        stack, inbound_line(ses_id, now - 60, routes=routes), inbound_line(new_id(), now - 50, routes=routes)
    )
    remember(stack, ses_record(ses_id), done=("app1", "default"))
    store_raw(stack, ses_id)
    document = trace_json(cli, ses_id)
    assert len(document["matches"]) == 1
    match = document["matches"][0]
    assert {k: match[k] for k in ("direction", "sesMessageId", "messageId", "outcome", "apps")} == {
        "direction": "inbound",
        "sesMessageId": ses_id,
        "messageId": "m1@example.org",
        "outcome": "delivered",
        "apps": ["app1", "default"],
    }
    steps = [(e["step"], e["app"], e["queue"], e["sqsMessageId"], e["reason"]) for e in match["events"]]
    assert steps == [
        ("received", None, None, None, None),
        ("routed", "app1", "mailflow-dev-app-app1", None, "app"),
        ("delivered", "app1", "mailflow-dev-app-app1", "sqs-app1", None),
        ("routed", "default", "mailflow-dev-default", None, "default"),
        ("delivered", "default", "mailflow-dev-default", "sqs-def", None),
    ]
    received = match["events"][0]
    assert received["detail"] == {
        "mailFrom": "***@example.org",
        "recipients": ["***@example.com"],
        "sizeBytes": 2345,
        "rawKey": f"raw/{ses_id}",
    }
    assert received["at"] < match["events"][1]["at"]
    assert match["events"][1]["detail"] == {"tag": "invoices"}
    assert match["events"][2]["detail"] == {"claimCheck": False}
    assert match["stored"]["record"]["status"] == "COMPLETED"
    assert match["stored"]["record"]["done"] == ["app1", "default"]
    assert match["stored"]["record"]["receiptStored"] is True
    assert match["stored"]["raw"]["present"] is True
    assert match["stored"]["raw"]["bytes"] == len(b"Subject: x\r\n\r\nhi\r\n")


def test_the_human_timeline(stack: StackContext, cli: Cli, now: float) -> None:
    ses_id = new_id()
    write_lines(stack, inbound_line(ses_id, now - 60, routes=[route("app1", tag="invoices", claim=True)]))
    result = cli("trace", ses_id)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"● inbound  delivered  SES {ses_id}  Message-ID <m1@example.org>  apps app1")
    assert "received     from ***@example.org  to ***@example.com  2,345 bytes  raw/" in lines[1]
    assert "routed       app1 (+invoices)  -> mailflow-dev-app-app1  why: app" in lines[2]
    assert "delivered    app1 (+invoices)" not in result.stdout
    assert "delivered    app1  -> mailflow-dev-app-app1  SQS sqs-1  claim check" in lines[3]
    assert "stored   no idempotency record" in lines[4]
    assert f"raw/{ses_id} gone (expired or deleted)" in lines[4]
    assert "1 match(es); searched Logs Insights on /aws/lambda/mailflow-dev-handler, last 1d" in result.stderr


@pytest.mark.parametrize("form", ["<{}>", "{}"])
def test_a_message_id_with_or_without_angle_brackets(
    stack: StackContext, cli: Cli, now: float, form: str
) -> None:
    message_id = f"{new_id()}@mail.example.org"
    ses_id = new_id()
    write_lines(stack, inbound_line(ses_id, now - 30, routes=[route("app2")], message_id=message_id))
    document = trace_json(cli, form.format(message_id))
    assert [m["sesMessageId"] for m in document["matches"]] == [ses_id]


def test_an_address_finds_mail_by_its_keyed_hash_and_never_by_its_text(
    stack: StackContext, cli: Cli, now: float
) -> None:
    store_hash_key(stack)
    mine, other = new_id(), new_id()
    sender = f"carol-{mine.lower()}@example.net"
    write_lines(
        stack,
        inbound_line(mine, now - 40, routes=[route("app1")], addresses=(sender, "_app1@example.com")),
        inbound_line(other, now - 30, routes=[route("app1")], addresses=("dave@example.net",)),
        outbound_line(f"c-{mine}", now - 20, ses_id=new_id(), addresses=("_app1@example.com", sender)),
    )
    document = trace_json(cli, f"  {sender.upper()} ")
    assert [m["direction"] for m in document["matches"]] == ["inbound", "outbound"]
    assert document["matches"][0]["sesMessageId"] == mine
    assert sender not in json.dumps(document)  # the log lines never held it, and trace does not add it


def test_an_address_without_a_hash_key_cannot_be_searched(stack: StackContext, cli: Cli, now: float) -> None:
    drop_hash_key(stack)
    write_lines(
        stack, inbound_line(new_id(), now - 40, routes=[route("app1")], addresses=("erin@example.net",))
    )
    result = cli("trace", "erin@example.net")
    assert result.exit_code == 1
    assert "no address hash key in the table yet" in result.stderr
    assert "No email matches 'erin@example.net'" in result.stderr


@pytest.mark.parametrize("stored", [{}, {"key": {"S": "not base64!"}}, {"key": {"S": ""}}])
def test_an_unusable_hash_key_item_is_reported_not_used(
    stack: StackContext, cli: Cli, stored: dict[str, Any]
) -> None:
    """The item without its key (or with one that is not base64 bytes) is the handler's decode_key's
    call, as in the handler: never a key made of whatever text the attribute holds."""
    stack.clients.client("dynamodb").put_item(
        TableName=stack.names.table, Item={"id": {"S": "config#address-hash-key"}, **stored}
    )
    try:
        result = cli("trace", "erin@example.net")
    finally:
        store_hash_key(stack)
    assert result.exit_code != 0
    assert "(item config#address-hash-key) is not base64 bytes" in " ".join(result.stderr.split())


def test_an_outbound_request_with_its_feedback_events(stack: StackContext, cli: Cli, now: float) -> None:
    correlation, sent = f"order-{new_id()}", new_id()
    write_lines(
        stack,
        outbound_line(correlation, now - 50, ses_id=sent),
        event_line("delivery", sent, correlation, now - 40),
        event_line("bounce", sent, correlation, now - 30, bounceType="Permanent", bounceSubType="General"),
    )
    document = trace_json(cli, correlation)
    assert len(document["matches"]) == 1
    match = document["matches"][0]
    assert (match["direction"], match["sesMessageId"], match["outcome"], match["apps"]) == (
        "outbound",
        sent,
        "bounce",
        ["app1"],
    )
    assert match["correlationId"] == correlation
    assert [(e["step"], e["queue"], e["sqsMessageId"], e["reason"]) for e in match["events"]] == [
        ("requested", None, None, None),
        ("sent", "mailflow-dev-app-app1", f"status-{correlation}", None),
        ("delivery", "mailflow-dev-app-app1", f"evt-delivery-{sent}", None),
        ("bounce", "mailflow-dev-app-app1", f"evt-bounce-{sent}", "Permanent General"),
    ]


def test_a_refused_request_and_an_unattributed_event(stack: StackContext, cli: Cli, now: float) -> None:
    correlation = f"refused-{new_id()}"
    write_lines(stack, outbound_line(correlation, now - 20, outcome="failed", reason="sender_not_allowed"))
    match = trace_json(cli, correlation)["matches"][0]
    assert match["outcome"] == "refused"
    assert match["sesMessageId"] is None
    assert match["events"][1]["step"] == "refused"
    assert match["events"][1]["reason"] == "sender_not_allowed"
    orphan = new_id()
    write_lines(
        stack,
        event_line(
            "complaint", orphan, "c-x", now - 10, outcome="unattributed", complaintFeedbackType="abuse"
        ),
    )
    event = trace_json(cli, orphan)["matches"][0]["events"][0]
    assert (event["step"], event["queue"], event["sqsMessageId"], event["reason"]) == (
        "complaint",
        None,
        None,
        "abuse (unattributed)",
    )


def test_a_request_whose_send_outcome_is_unknown_is_not_called_refused(
    stack: StackContext, cli: Cli, now: float
) -> None:
    correlation = f"unknown-{new_id()}"
    write_lines(
        stack,
        outbound_line(correlation, now - 30, outcome="failed", retry=True, reason="transient"),
        outbound_line(correlation, now - 20, outcome="failed", reason="outcome_unknown"),
    )
    match = trace_json(cli, correlation)["matches"][0]
    assert [(e["step"], e["reason"]) for e in match["events"] if e["step"] != "requested"] == [
        ("failed", "transient"),
        ("unknown", "outcome_unknown"),
    ]


def test_quarantined_and_dead_lettered_mail_with_reasons(stack: StackContext, cli: Cli, now: float) -> None:
    quarantined, failed = new_id(), new_id()
    write_lines(
        stack,
        inbound_line(
            quarantined,
            now - 30,
            routes=[route("app1", "quarantined", why="quarantine")],
            outcome="quarantined",
            quarantineReasons={"app1": "virus_fail"},
        ),
        inbound_line(
            failed,
            now - 20,
            routes=[route("app2", "failed")],
            outcome="dead_lettered",
            deadLetter={"reason": "raw_missing"},
        ),
    )
    match = trace_json(cli, quarantined)["matches"][0]
    assert match["outcome"] == "quarantined"
    assert [(e["step"], e["reason"]) for e in match["events"][1:]] == [
        ("routed", "quarantine"),
        ("quarantined", "virus_fail"),
    ]
    match = trace_json(cli, failed)["matches"][0]
    assert match["outcome"] == "dead-lettered"
    assert [(e["step"], e["reason"]) for e in match["events"][-2:]] == [
        ("failed", None),
        ("dead-lettered", "raw_missing"),
    ]


def test_a_failed_attempt_names_its_error_and_where_the_email_goes_next(
    stack: StackContext, cli: Cli, now: float
) -> None:
    ses_id = new_id()
    write_lines(
        stack,
        inbound_line(
            ses_id,
            now - 20,
            routes=[route("app1", "failed")],
            outcome="retrying",
            reason="transient: ServiceUnavailable",
        ),
    )
    match = trace_json(cli, ses_id)["matches"][0]
    assert match["outcome"] == "retrying"
    assert [(e["step"], e["reason"]) for e in match["events"][-1:]] == [
        ("failed", "transient: ServiceUnavailable")
    ]
    assert any("inbound DLQ" in note for note in match["notes"])
    shown = cli("trace", ses_id)
    assert "reason: transient: ServiceUnavailable" in shown.stdout
    assert "mailflow dlq redrive inbound" in " ".join(shown.stdout.split())


def test_a_later_duplicate_does_not_change_the_outcome(stack: StackContext, cli: Cli, now: float) -> None:
    ses_id = new_id()
    write_lines(
        stack,
        inbound_line(ses_id, now - 30, routes=[route("app1")]),
        inbound_line(ses_id, now - 10, routes=[route("app1", "duplicate")], outcome="duplicate"),
    )
    match = trace_json(cli, ses_id)["matches"][0]
    assert match["outcome"] == "delivered"
    assert [e["step"] for e in match["events"]] == ["received", "routed", "delivered", "duplicate"]


def test_a_line_from_before_routes_were_logged(stack: StackContext, cli: Cli, now: float) -> None:
    ses_id = new_id()
    line = inbound_line(ses_id, now - 30, routes=[], outcome="delivered")
    for key in ("routes", "messageId", "receivedAt", "rawKey", "addressHashes"):
        del line[key]
    line.update(apps=["app1"], quarantined=["app2"], duplicates=["quarantine"])
    write_lines(stack, line)
    match = trace_json(cli, ses_id)["matches"][0]
    assert match["apps"] == ["app1", "app2"]
    assert [(e["step"], e["app"]) for e in match["events"]] == [
        ("received", None),
        ("delivered", "app1"),
        ("quarantined", "app2"),
    ]


def test_only_the_window_is_searched(stack: StackContext, cli: Cli, now: float, aws_calls: AwsCalls) -> None:
    ses_id = new_id()
    write_lines(stack, inbound_line(ses_id, now - 7200, routes=[route("app1")]))
    result = cli("trace", ses_id, "--since", "1h")
    assert result.exit_code == 1
    assert (
        f"No email matches {ses_id!r} (Logs Insights on /aws/lambda/mailflow-dev-handler, last 1h)"
        in result.stderr
    )
    assert "widen the window (--since 7d)" in result.stderr
    (start,) = [params for name, params in aws_calls if name == "StartQuery"]
    assert start["startTime"] == int(now) - 3600
    assert start["endTime"] in (int(now), int(now) + 1)
    assert f'sesMessageId = "{ses_id}"' in start["queryString"]
    assert 'filter message in ["inbound email", "outbound email", "outbound event"]' in start["queryString"]
    assert trace_json(cli, ses_id, "--since", "3h")["matches"][0]["sesMessageId"] == ses_id


def test_nothing_matches_prints_an_empty_list_and_exits_1(stack: StackContext, cli: Cli, now: float) -> None:
    result = cli("trace", "no-such-id", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"matches": []}


def test_an_email_with_no_line_in_the_window_is_found_in_its_record(
    stack: StackContext, cli: Cli, now: float
) -> None:
    ses_id = new_id()
    remember(
        stack,
        ses_record(ses_id, recipients=("_app1@example.com", "_x@example.com")),
        done=("app1", "default"),
    )
    store_raw(stack, ses_id)
    match = trace_json(cli, ses_id, "--since", "10m")["matches"][0]
    assert (match["outcome"], match["messageId"], match["apps"]) == (
        "delivered",
        "m1@example.org",
        ["app1", "default"],
    )
    assert [(e["step"], e["app"], e["queue"], e["sqsMessageId"], e["at"]) for e in match["events"][1:]] == [
        ("delivered", "app1", "mailflow-dev-app-app1", "sqs-app1", None),
        ("delivered", "default", "mailflow-dev-default", "sqs-default", None),
    ]
    assert match["events"][0]["at"] == "2026-11-30T10:00:00.000Z"
    assert match["events"][0]["detail"]["recipients"] == ["***@example.com", "***@example.com"]
    assert "no log line of this email in the window" in match["notes"][0]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("Alice <alice@example.com>", "QUERY contains ' '"),
        ('x"y', "QUERY contains '\"'"),
        ("", "QUERY is empty"),
        ("a" * 999, "QUERY is 999 characters long"),
    ],
)
def test_a_query_trace_cannot_search_for_is_a_usage_error(
    stack: StackContext, cli: Cli, query: str, problem: str, aws_calls: AwsCalls
) -> None:
    result = cli("trace", query)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert aws_calls == []


def test_a_bad_since_names_the_option_and_the_accepted_forms(stack: StackContext, cli: Cli) -> None:
    result = cli("trace", "x", "--since", "2x")
    assert result.exit_code == 2
    assert "--since: '2x' is not a duration" in result.stderr
    assert "10s, 30m, 2h or 1d" in result.stderr


def test_text_from_mail_cannot_drive_the_terminal(stack: StackContext, cli: Cli, now: float) -> None:
    ses_id = new_id()
    write_lines(stack, inbound_line(ses_id, now - 5, routes=[route("app1")], message_id="evil\x1b[2J@x"))
    result = cli("trace", ses_id)
    assert "\x1b" not in result.stdout
    assert "Message-ID <evil\\x1b[2J@x>" in result.stdout


# the two log sources give one answer ---------------------------------------------------------------------
def _both_sources(stack: StackContext, query_text: str, now: float, clock: Clock) -> dict[str, list[str]]:
    window = Window(int((now - 600) * 1000), int(now * 1000))
    query = build_query(query_text, lambda address: address_hash(bytes(range(32)), address))
    results = {}
    for local in (False, True):
        stack.local = local
        found = search(stack, query, window, clock)
        results[found.source] = [str(line.record.get("sesMessageId")) for line in found.lines]
    stack.local = False
    return results


def test_filter_log_events_and_insights_find_the_same_lines(
    stack: StackContext, now: float, clock: FakeClock, aws_calls: AwsCalls
) -> None:
    ses_id, address_mail, noise = new_id(), new_id(), new_id()
    write_lines(
        stack,
        inbound_line(ses_id, now - 50, routes=[route("app1")]),
        inbound_line(address_mail, now - 40, routes=[route("app1")], addresses=("frank@example.net",)),
        inbound_line(noise, now - 30, routes=[route("app1")], message_id=f"mentions {ses_id}"),
        "START RequestId: 1 Version: $LATEST",
    )
    assert _both_sources(stack, ses_id, now, clock.as_clock()) == {
        INSIGHTS: [ses_id],
        FILTER_LOG_EVENTS: [ses_id],
    }
    assert _both_sources(stack, "frank@example.net", now, clock.as_clock()) == {
        INSIGHTS: [address_mail],
        FILTER_LOG_EVENTS: [address_mail],
    }
    patterns = [params["filterPattern"] for name, params in aws_calls if name == "FilterLogEvents"]
    digest = contract_hash("frank@example.net")
    assert patterns == [f'"{ses_id}"', f'?"frank@example.net" ?"{digest}"']


def test_insights_refused_falls_back_to_filter_log_events(
    stack: StackContext, cli: Cli, now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    ses_id = new_id()
    write_lines(stack, inbound_line(ses_id, now - 30, routes=[route("app1")]))
    logs = stack.clients.client("logs")
    refused = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StartQuery")

    def refuse(**_: Any) -> None:
        raise refused

    monkeypatch.setattr(logs, "start_query", refuse)
    found = search(
        stack,
        build_query(ses_id, lambda _: None),
        Window(int((now - 60) * 1000), int(now * 1000)),
        FakeClock().as_clock(),
    )
    assert found.source == FILTER_LOG_EVENTS
    assert found.note == "Logs Insights is unavailable (AccessDeniedException); searched with FilterLogEvents"
    assert [line.record["sesMessageId"] for line in found.lines] == [ses_id]


def test_the_address_hash_is_contract_l() -> None:
    """trace hashes with the handler's own function (one implementation); the contract's vector, key
    bytes 0..31, holds for it."""
    assert address_hash(bytes(range(32)), " Alice@Example.COM ") == contract_hash("alice@example.com")
    assert address_hash(bytes(range(32)), "alice@example.com") == "a59fc578d4cb46faab1d6eb348e7c74b"


def test_an_address_the_terminal_could_not_decode_hashes_as_the_handler_hashes_it() -> None:
    """Python decodes argv with surrogateescape, so a QUERY with bytes that are not UTF-8 holds lone
    surrogates; the handler hashes them (surrogatepass) and so must trace, instead of failing."""
    from mailflow_handler.addresses import address_hash as handlers_hash

    address = "al\udcffce@example.com"
    assert address_hash(bytes(range(32)), address) == handlers_hash(bytes(range(32)), address)
