"""The SES v2 operations moto_sesv2 adds answer through moto's server too (the emulator is one), not
only in process: every one of them, once, against a ThreadedMotoServer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mailflow_cli.local import moto_patches
from mailflow_cli.local.ports import free_port

TOPIC = "arn:aws:sns:eu-west-1:123456789012:mailflow-dev-ses-events"
DESTINATION = {"Enabled": True, "MatchingEventTypes": ["BOUNCE"], "SnsDestination": {"TopicArn": TOPIC}}


@pytest.fixture
def sesv2() -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    undo = moto_patches.install_moto_compat()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client(
            "sesv2",
            region_name="eu-west-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()
        undo()


def test_every_added_operation_is_routed_by_the_server(sesv2: Any) -> None:
    # the in-process server shares moto's backends with earlier tests: a name of its own
    name = f"mailflow-{uuid.uuid4().hex[:12]}"
    sesv2.create_configuration_set(ConfigurationSetName=name)
    names = {"ConfigurationSetName": name, "EventDestinationName": "to-sns"}
    sesv2.create_configuration_set_event_destination(**names, EventDestination=DESTINATION)
    sesv2.update_configuration_set_event_destination(**names, EventDestination=DESTINATION)
    found = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)
    assert [d["Name"] for d in found["EventDestinations"]] == ["to-sns"]
    sesv2.delete_configuration_set_event_destination(**names)
    sesv2.put_configuration_set_suppression_options(ConfigurationSetName=name, SuppressedReasons=["BOUNCE"])
    sesv2.put_account_suppression_attributes(SuppressedReasons=["BOUNCE", "COMPLAINT"])
    account = sesv2.get_account()
    assert account["SuppressionAttributes"]["SuppressedReasons"] == ["BOUNCE", "COMPLAINT"]
    sesv2.put_suppressed_destination(EmailAddress="gone@example.org", Reason="BOUNCE")
    entry = sesv2.get_suppressed_destination(EmailAddress="gone@example.org")["SuppressedDestination"]
    assert entry["Reason"] == "BOUNCE"
    listed = sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"]
    assert "gone@example.org" in [e["EmailAddress"] for e in listed]
    sesv2.delete_suppressed_destination(EmailAddress="gone@example.org")
    with pytest.raises(ClientError) as gone:
        sesv2.get_suppressed_destination(EmailAddress="gone@example.org")
    assert gone.value.response["Error"]["Code"] == "NotFoundException"
