"""Verification states moto cannot produce (Pending, Failed), through botocore's Stubber."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from operate_helpers import Cli

from mailflow_cli.aws import AwsClients
from mailflow_cli.context import StackContext
from mailflow_cli.operate import verify_domain
from mailflow_cli.operate.timing import FakeClock

DOMAIN = "example.com"


def expect_status(stubber: Stubber, verification: str, dkim: str) -> None:
    stubber.add_response(
        "get_identity_verification_attributes",
        {
            "VerificationAttributes": {
                DOMAIN: {"VerificationStatus": verification, "VerificationToken": "tok"}
            }
        },
        {"Identities": [DOMAIN]},
    )
    stubber.add_response(
        "get_identity_dkim_attributes",
        {
            "DkimAttributes": {
                DOMAIN: {"DkimEnabled": True, "DkimVerificationStatus": dkim, "DkimTokens": ["a"]}
            }
        },
        {"Identities": [DOMAIN]},
    )


@pytest.fixture
def ses() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ses", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_wait_polls_until_both_succeed(ses: tuple[Any, Stubber]) -> None:
    client, stubber = ses
    expect_status(stubber, "Pending", "Pending")
    expect_status(stubber, "Success", "Pending")
    expect_status(stubber, "Success", "Success")
    clock = FakeClock()
    seen: list[str] = []
    status = verify_domain.wait_until_verified(
        client,
        DOMAIN,
        timeout=600,
        clock=clock.as_clock(),
        on_poll=lambda s, _: seen.append(s.verification + s.dkim),
    )
    assert status.verified
    assert seen == ["PendingPending", "SuccessPending", "SuccessSuccess"]
    assert clock.slept == [15.0, 15.0]


def test_wait_times_out_with_the_status_and_the_likely_cause(ses: tuple[Any, Stubber]) -> None:
    client, stubber = ses
    for _ in range(3):
        expect_status(stubber, "Pending", "Pending")
    clock = FakeClock()
    with pytest.raises(verify_domain.VerificationIncomplete) as raised:
        verify_domain.wait_until_verified(client, DOMAIN, timeout=30, clock=clock.as_clock())
    error = raised.value
    assert error.exit_code == 1
    assert "example.com is not verified after 30s (verification: Pending, DKIM: Pending)" in error.message
    assert any("dig +short TXT _amazonses.example.com" in d for d in error.details)
    assert clock.slept == [15.0, 15.0]


def test_wait_stops_at_once_when_ses_reports_failed(ses: tuple[Any, Stubber]) -> None:
    client, stubber = ses
    expect_status(stubber, "Failed", "Failed")
    with pytest.raises(verify_domain.VerificationIncomplete) as raised:
        verify_domain.wait_until_verified(client, DOMAIN, timeout=600, clock=FakeClock().as_clock())
    assert "verification: Failed" in raised.value.message
    assert any("SES gave up" in detail for detail in raised.value.details)


def test_the_command_exits_1_with_the_current_status(
    stack: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("ses", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_response("verify_domain_identity", {"VerificationToken": "tok"}, {"Domain": DOMAIN})
    stubber.add_response("verify_domain_dkim", {"DkimTokens": ["a", "b", "c"]}, {"Domain": DOMAIN})
    for _ in range(4):  # the first look, then polls at 0 s, 15 s and 20 s
        expect_status(stubber, "Pending", "Pending")
    stubber.activate()
    real_client = AwsClients.client
    monkeypatch.setattr(
        AwsClients, "client", lambda self, service: client if service == "ses" else real_client(self, service)
    )

    result = cli("verify-domain", DOMAIN, "--wait", "--timeout", "20s", "--json")

    assert result.exit_code == 1
    assert "not verified after 20s (verification: Pending, DKIM: Pending)" in result.stderr
    assert json.loads(result.stdout)["verification"]["status"] == "Pending"
    stubber.assert_no_pending_responses()
