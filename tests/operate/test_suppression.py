"""``mailflow suppression list|add|remove|check`` (issue 11.4): the account-level SES suppression list,
every page of it, with --json everywhere, addresses checked before any call, and confirmation before
SES may send to an address again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from operate_helpers import Cli

from mailflow_cli.context import StackContext
from mailflow_cli.operate import suppression
from mailflow_cli.operate.timing import FakeClock


@pytest.fixture(autouse=True)
def empty_list(stack: StackContext) -> Any:
    yield
    sesv2 = stack.clients.client("sesv2")
    for entry in list(suppression.listed(sesv2)):
        sesv2.delete_suppressed_destination(EmailAddress=entry.address)


def test_add_list_check_and_remove(stack: StackContext, cli: Cli) -> None:
    added = cli(
        "suppression", "add", "bounced@example.net", "Gone@Example.org", "--reason", "bounce", "--json"
    )
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout) == {
        "added": ["bounced@example.net", "Gone@Example.org"],
        "reason": "BOUNCE",
    }
    cli("suppression", "add", "angry@example.net", "--reason", "COMPLAINT")

    entries = json.loads(cli("suppression", "list", "--json").stdout)
    assert sorted((e["address"], e["reason"]) for e in entries) == [
        ("angry@example.net", "COMPLAINT"),
        ("bounced@example.net", "BOUNCE"),
        ("gone@example.org", "BOUNCE"),  # SES compares addresses without case
    ]
    complaints = json.loads(cli("suppression", "list", "--reason", "complaint", "--json").stdout)
    assert [e["address"] for e in complaints] == ["angry@example.net"]
    table = cli("suppression", "list")
    assert "Suppressed addresses (account-level, eu-west-1)" in table.stdout
    assert "3 address(es)." in table.stderr

    checked = cli("suppression", "check", "bounced@example.net")
    assert checked.exit_code == 0
    assert "bounced@example.net: suppressed (BOUNCE, since " in checked.stdout
    mixed = cli("suppression", "check", "bounced@example.net", "fine@example.net", "--json")
    assert mixed.exit_code == 1  # one of them is not suppressed
    assert [(d["address"], d["suppressed"]) for d in json.loads(mixed.stdout)] == [
        ("bounced@example.net", True),
        ("fine@example.net", False),
    ]

    removed = cli("suppression", "remove", "bounced@example.net", "--yes", "--json")
    assert json.loads(removed.stdout) == {"removed": ["bounced@example.net"], "notListed": []}
    assert cli("suppression", "check", "bounced@example.net").exit_code == 1


def test_the_list_is_read_page_by_page(
    stack: StackContext,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    aws_calls: list[tuple[str, dict[str, Any]]],
) -> None:
    sesv2 = stack.clients.client("sesv2")
    for number in range(5):
        sesv2.put_suppressed_destination(EmailAddress=f"user{number}@example.net", Reason="BOUNCE")
    monkeypatch.setattr(suppression, "PAGE_SIZE", 2)
    aws_calls.clear()
    entries = json.loads(cli("suppression", "list", "--json").stdout)
    assert len(entries) == 5
    pages = [params for operation, params in aws_calls if operation == "ListSuppressedDestinations"]
    assert len(pages) == 3
    assert [page.get("NextToken") is None for page in pages] == [True, False, False]


def test_since_asks_for_recent_entries_only(stack: StackContext, cli: Cli, clock: FakeClock) -> None:
    clock.time = time.time()
    stack.clients.client("sesv2").put_suppressed_destination(EmailAddress="new@example.net", Reason="BOUNCE")
    assert [
        e["address"] for e in json.loads(cli("suppression", "list", "--since", "1h", "--json").stdout)
    ] == ["new@example.net"]
    clock.time += 2 * 3600
    assert json.loads(cli("suppression", "list", "--since", "1h", "--json").stdout) == []


def test_an_empty_answer_says_which_filters_it_used(stack: StackContext, cli: Cli) -> None:
    assert "has no address." in cli("suppression", "list").stderr
    stack.clients.client("sesv2").put_suppressed_destination(EmailAddress="b@example.net", Reason="BOUNCE")
    filtered = cli("suppression", "list", "--reason", "complaint", "--since", "1h")
    assert filtered.exit_code == 0
    assert "has no address matching reason COMPLAINT and changed since " in filtered.stderr
    assert "b@example.net" not in filtered.stdout


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("add", "ok@example.net", "not-an-address", "--reason", "BOUNCE"), "ADDRESS 'not-an-address'"),
        (("remove", "x@example.net", "a@b", "--yes"), "ADDRESS 'a@b'"),
        (("check", "\x1b[31m@example.net"), "is not an e-mail address"),
        (("add", "ok@example.net", "--reason", "SPAM"), "--reason: 'SPAM' is not a suppression reason"),
        (("list", "--since", "2 weeks"), "--since: '2 weeks' is not a duration"),
    ],
)
def test_bad_input_is_named_and_nothing_changes(
    stack: StackContext,
    cli: Cli,
    aws_calls: list[tuple[str, dict[str, Any]]],
    arguments: tuple[str, ...],
    named: str,
) -> None:
    result = cli("suppression", *arguments)
    assert result.exit_code == 2
    assert named in result.stderr
    assert [op for op, _ in aws_calls if op.endswith("SuppressedDestination")] == []
    assert list(suppression.listed(stack.clients.client("sesv2"))) == []


def test_remove_asks_first_and_needs_yes_without_a_terminal(stack: StackContext, cli: Cli) -> None:
    stack.clients.client("sesv2").put_suppressed_destination(EmailAddress="kept@example.net", Reason="BOUNCE")
    refused = cli("suppression", "remove", "kept@example.net")
    assert refused.exit_code == 2
    assert "needs confirmation" in refused.stderr
    assert [e.address for e in suppression.listed(stack.clients.client("sesv2"))] == ["kept@example.net"]


def test_removing_an_address_that_is_not_listed_exits_1(stack: StackContext, cli: Cli) -> None:
    result = cli("suppression", "remove", "never@example.net", "--yes")
    assert result.exit_code == 1
    assert "never@example.net was not on the suppression list in eu-west-1." in result.stderr
