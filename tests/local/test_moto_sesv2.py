"""The SES v2 APIs the moto patches add, answering as AWS documents them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mailflow_cli.local import moto_patches

REGION = "eu-west-1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:mailflow-dev-ses-events"
DESTINATION = {
    "Enabled": True,
    "MatchingEventTypes": ["BOUNCE", "DELIVERY"],
    "SnsDestination": {"TopicArn": TOPIC},
}


@pytest.fixture
def sesv2() -> Iterator[Any]:
    from moto import mock_aws

    undo = moto_patches.install_moto_compat()
    try:
        with mock_aws():
            yield boto3.client("sesv2", region_name=REGION)
    finally:
        undo()


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_event_destinations_are_created_read_updated_and_deleted(sesv2: Any) -> None:
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev")
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=DESTINATION
    )
    found = sesv2.get_configuration_set_event_destinations(ConfigurationSetName="mailflow-dev")
    assert found["EventDestinations"] == [{"Name": "to-sns", **DESTINATION}]

    updated = {**DESTINATION, "MatchingEventTypes": ["SEND", "BOUNCE"]}
    sesv2.update_configuration_set_event_destination(
        ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=updated
    )
    found = sesv2.get_configuration_set_event_destinations(ConfigurationSetName="mailflow-dev")
    assert found["EventDestinations"][0]["MatchingEventTypes"] == ["SEND", "BOUNCE"]

    with pytest.raises(ClientError) as twice:
        sesv2.create_configuration_set_event_destination(
            ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=DESTINATION
        )
    assert code(twice) == "AlreadyExistsException"

    sesv2.delete_configuration_set_event_destination(
        ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns"
    )
    assert (
        sesv2.get_configuration_set_event_destinations(ConfigurationSetName="mailflow-dev")[
            "EventDestinations"
        ]
        == []
    )
    with pytest.raises(ClientError) as gone:
        sesv2.delete_configuration_set_event_destination(
            ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns"
        )
    assert code(gone) == "NotFoundException"


def test_a_missing_configuration_set_is_not_found_everywhere(sesv2: Any) -> None:
    calls = [
        lambda: sesv2.get_configuration_set(ConfigurationSetName="nope"),
        lambda: sesv2.delete_configuration_set(ConfigurationSetName="nope"),
        lambda: sesv2.get_configuration_set_event_destinations(ConfigurationSetName="nope"),
        lambda: sesv2.create_configuration_set_event_destination(
            ConfigurationSetName="nope", EventDestinationName="d", EventDestination=DESTINATION
        ),
        lambda: sesv2.put_configuration_set_suppression_options(
            ConfigurationSetName="nope", SuppressedReasons=["BOUNCE"]
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as missing:
            call()
        assert code(missing) == "NotFoundException"


def test_deleting_a_configuration_set_deletes_its_destinations(sesv2: Any) -> None:
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev")
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=DESTINATION
    )
    sesv2.delete_configuration_set(ConfigurationSetName="mailflow-dev")
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev")
    assert (
        sesv2.get_configuration_set_event_destinations(ConfigurationSetName="mailflow-dev")[
            "EventDestinations"
        ]
        == []
    )


def test_bad_destinations_are_refused(sesv2: Any) -> None:
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev")
    for destination in (
        {**DESTINATION, "MatchingEventTypes": []},
        {**DESTINATION, "MatchingEventTypes": ["BOUNCES"]},
    ):
        with pytest.raises(ClientError) as refused:
            sesv2.create_configuration_set_event_destination(
                ConfigurationSetName="mailflow-dev", EventDestinationName="d", EventDestination=destination
            )
        assert code(refused) == "BadRequestException"


def test_suppression_options_of_a_configuration_set(sesv2: Any) -> None:
    sesv2.create_configuration_set(
        ConfigurationSetName="mailflow-dev", SuppressionOptions={"SuppressedReasons": ["BOUNCE"]}
    )
    sesv2.put_configuration_set_suppression_options(
        ConfigurationSetName="mailflow-dev", SuppressedReasons=["BOUNCE", "COMPLAINT"]
    )
    found = sesv2.get_configuration_set(ConfigurationSetName="mailflow-dev")
    assert found["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}


def test_the_account_suppression_list(sesv2: Any) -> None:
    sesv2.put_suppressed_destination(EmailAddress="Bounced@Example.net", Reason="BOUNCE")
    sesv2.put_suppressed_destination(EmailAddress="angry@example.net", Reason="COMPLAINT")
    entry = sesv2.get_suppressed_destination(EmailAddress="bounced@example.net")["SuppressedDestination"]
    assert (entry["EmailAddress"], entry["Reason"]) == ("bounced@example.net", "BOUNCE")

    everything = sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"]
    assert [e["EmailAddress"] for e in everything] == ["angry@example.net", "bounced@example.net"]
    bounces = sesv2.list_suppressed_destinations(Reasons=["BOUNCE"])["SuppressedDestinationSummaries"]
    assert [e["EmailAddress"] for e in bounces] == ["bounced@example.net"]
    later = sesv2.list_suppressed_destinations(StartDate=datetime.now(UTC) + timedelta(hours=1))
    assert later["SuppressedDestinationSummaries"] == []

    sesv2.delete_suppressed_destination(EmailAddress="bounced@example.net")
    with pytest.raises(ClientError) as gone:
        sesv2.get_suppressed_destination(EmailAddress="bounced@example.net")
    assert code(gone) == "NotFoundException"
    with pytest.raises(ClientError) as refused:
        sesv2.put_suppressed_destination(EmailAddress="x@example.net", Reason="SPAM")
    assert code(refused) == "BadRequestException"


def test_the_suppression_list_pages(sesv2: Any) -> None:
    for number in range(5):
        sesv2.put_suppressed_destination(EmailAddress=f"user{number}@example.net", Reason="BOUNCE")
    sizes, token = [], None
    while True:
        page = sesv2.list_suppressed_destinations(PageSize=2, **({"NextToken": token} if token else {}))
        sizes.append(len(page["SuppressedDestinationSummaries"]))
        token = page.get("NextToken")
        if not token:
            break
    assert sizes == [2, 2, 1]


def test_get_account_describes_a_sandbox_account(sesv2: Any) -> None:
    account = sesv2.get_account()
    assert account["ProductionAccessEnabled"] is False
    assert account["SendingEnabled"] is True
    assert account["EnforcementStatus"] == "HEALTHY"
    assert account["SendQuota"]["Max24HourSend"] == 200.0


def test_a_configuration_sets_tags_are_the_same_whichever_api_reads_or_writes_them(sesv2: Any) -> None:
    """AWS: GetConfigurationSet returns the set's tags as Tag/UntagResource left them, and a deleted set
    takes its tags with it (a new set of that name starts with none)."""
    arn = "arn:aws:ses:eu-west-1:123456789012:configuration-set/mailflow-dev"
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev", Tags=[{"Key": "a", "Value": "1"}])
    sesv2.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])
    sesv2.untag_resource(ResourceArn=arn, TagKeys=["a"])
    found = sesv2.get_configuration_set(ConfigurationSetName="mailflow-dev")
    assert found["Tags"] == [{"Key": "b", "Value": "2"}]
    assert sesv2.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]

    sesv2.delete_configuration_set(ConfigurationSetName="mailflow-dev")
    sesv2.create_configuration_set(ConfigurationSetName="mailflow-dev")
    assert sesv2.get_configuration_set(ConfigurationSetName="mailflow-dev")["Tags"] == []
    assert sesv2.list_tags_for_resource(ResourceArn=arn)["Tags"] == []


def test_a_moto_server_answers_every_added_api() -> None:
    """The emulator and the end-to-end tests reach moto as a server (AWS_ENDPOINT_URL): there, each of
    these operations must reach the same handlers as in process, not the server's HTML 404."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    undo = moto_patches.install_moto_compat()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "sesv2",
            region_name=REGION,
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_configuration_set(ConfigurationSetName="mailflow-dev")
        client.create_configuration_set_event_destination(
            ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=DESTINATION
        )
        client.update_configuration_set_event_destination(
            ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns", EventDestination=DESTINATION
        )
        found = client.get_configuration_set_event_destinations(ConfigurationSetName="mailflow-dev")
        assert [d["Name"] for d in found["EventDestinations"]] == ["to-sns"]
        client.put_configuration_set_suppression_options(
            ConfigurationSetName="mailflow-dev", SuppressedReasons=["BOUNCE"]
        )
        client.put_suppressed_destination(EmailAddress="Bounced+x@Example.com", Reason="BOUNCE")
        entry = client.get_suppressed_destination(EmailAddress="bounced+x@example.com")[
            "SuppressedDestination"
        ]
        assert (entry["EmailAddress"], entry["Reason"]) == ("bounced+x@example.com", "BOUNCE")
        listed = client.list_suppressed_destinations()["SuppressedDestinationSummaries"]
        assert [e["EmailAddress"] for e in listed] == ["bounced+x@example.com"]
        client.delete_suppressed_destination(EmailAddress="bounced+x@example.com")
        client.put_account_suppression_attributes(SuppressedReasons=["COMPLAINT"])
        assert client.get_account()["SuppressionAttributes"] == {"SuppressedReasons": ["COMPLAINT"]}
        client.delete_configuration_set_event_destination(
            ConfigurationSetName="mailflow-dev", EventDestinationName="to-sns"
        )
    finally:
        server.stop()
        undo()
        from moto.core.models import reset_model_data

        reset_model_data()
