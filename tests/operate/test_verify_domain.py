from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from operate_helpers import Cli

from mailflow_cli.context import StackContext


def test_prints_the_dns_records_as_json(stack: StackContext, cli: Cli) -> None:
    result = cli("verify-domain", "example.com", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    records = {(r["type"], r["name"]): r for r in document["records"]}
    assert records[("MX", "example.com")]["value"] == "inbound-smtp.eu-west-1.amazonaws.com"
    assert records[("MX", "example.com")]["priority"] == 10
    assert records[("TXT", "_amazonses.example.com")]["value"] == document["verification"]["token"]
    dkim = [r for r in document["records"] if r["type"] == "CNAME"]
    assert len(dkim) == 3
    for token, record in zip(document["dkim"]["tokens"], dkim, strict=True):
        assert record["name"] == f"{token}._domainkey.example.com"
        assert record["value"] == f"{token}.dkim.amazonses.com"
    assert records[("TXT", "_dmarc.example.com")]["value"].startswith("v=DMARC1; p=quarantine; rua=mailto:")


def test_table_lists_every_record_and_the_status(stack: StackContext, cli: Cli) -> None:
    result = cli("verify-domain", "Example.COM.")
    assert result.exit_code == 0, result.stderr
    for expected in ("_amazonses.example.com", "inbound-smtp.eu-west-1.amazonaws.com", "_dmarc.example.com"):
        assert expected in result.stdout
    assert result.stdout.count(".dkim.amazonses.com") == 3
    assert "Verification: Success" in result.stdout
    assert "Warning" not in result.stderr


def test_is_idempotent(stack: StackContext, cli: Cli) -> None:
    first = json.loads(cli("verify-domain", "example.com", "--json").stdout)
    second = json.loads(cli("verify-domain", "example.com", "--json").stdout)
    assert first["records"] == second["records"]


def test_warns_about_a_domain_outside_the_config_and_a_region_without_receiving(
    stack: StackContext, cli: Cli
) -> None:
    result = cli("verify-domain", "other.net", "--region", "eu-central-2", "--json")
    assert result.exit_code == 0
    warnings = json.loads(result.stdout)["warnings"]
    assert any("other.net is not in the config's domains" in w for w in warnings)
    assert any("SES does not receive email in eu-central-2" in w for w in warnings)
    assert "other.net is not in the config's domains" in result.stderr


def test_rejects_a_malformed_domain(stack: StackContext, cli: Cli) -> None:
    result = cli("verify-domain", "not a domain")
    assert result.exit_code == 2
    assert "is not a domain name" in result.stderr


@pytest.fixture
def route53(stack: StackContext) -> Iterator[Any]:
    """Route 53, with every hosted zone the test made removed afterwards."""
    client = stack.clients.client("route53")
    yield client
    for zone in client.list_hosted_zones()["HostedZones"]:
        for record_set in client.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
            if record_set["Type"] not in ("NS", "SOA"):
                change = {"Action": "DELETE", "ResourceRecordSet": record_set}
                client.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [change]})
        client.delete_hosted_zone(Id=zone["Id"])


def test_route53_upserts_the_records_and_is_rerunnable(route53: Any, cli: Cli) -> None:
    zone_id = route53.create_hosted_zone(Name="example.com", CallerReference="t1")["HostedZone"]["Id"]
    route53.create_hosted_zone(Name="com", CallerReference="t2")

    first = json.loads(cli("verify-domain", "example.com", "--route53", "--json").stdout)
    assert first["route53"]["zone"] == "example.com"
    assert {c["action"] for c in first["route53"]["changes"]} == {"created"}
    assert len(first["route53"]["changes"]) == 6

    stored = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    mx = next(r for r in stored if r["Type"] == "MX")
    assert mx["ResourceRecords"] == [{"Value": "10 inbound-smtp.eu-west-1.amazonaws.com"}]

    second = json.loads(cli("verify-domain", "example.com", "--route53", "--json").stdout)
    assert {c["action"] for c in second["route53"]["changes"]} == {"unchanged"}


def test_route53_keeps_a_foreign_mx_and_dmarc_and_merges_the_ses_txt(route53: Any, cli: Cli) -> None:
    zone_id = route53.create_hosted_zone(Name="example.com", CallerReference="t1")["HostedZone"]["Id"]

    def existing(name: str, kind: str, value: str) -> dict[str, object]:
        record = {"Name": name, "Type": kind, "TTL": 300, "ResourceRecords": [{"Value": value}]}
        return {"Action": "UPSERT", "ResourceRecordSet": record}

    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                existing("example.com", "MX", "5 mx.other-provider.net"),
                existing("_dmarc.example.com", "TXT", '"v=DMARC1; p=reject"'),
                existing("_amazonses.example.com", "TXT", '"token-from-us-east-1"'),
            ]
        },
    )
    result = cli("verify-domain", "example.com", "--route53", "--json")
    changes = {c["type"] + " " + c["name"]: c for c in json.loads(result.stdout)["route53"]["changes"]}
    assert changes["MX example.com"]["action"] == "kept"
    assert changes["TXT _dmarc.example.com"]["action"] == "kept"
    assert changes["TXT _amazonses.example.com"]["action"] == "updated"
    stored = {
        (r["Name"], r["Type"]): [v["Value"] for v in r["ResourceRecords"]]
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    }
    assert stored[("example.com.", "MX")] == ["5 mx.other-provider.net"]
    assert len(stored[("_amazonses.example.com.", "TXT")]) == 2

    replaced = cli("verify-domain", "example.com", "--route53", "--replace-mx", "--json")
    changes = {c["type"]: c["action"] for c in json.loads(replaced.stdout)["route53"]["changes"]}
    assert changes["MX"] == "updated"


def test_route53_without_a_zone_is_a_clear_error(route53: Any, cli: Cli) -> None:
    result = cli("verify-domain", "example.com", "--route53")
    assert result.exit_code == 1
    assert "no public Route 53 hosted zone holds example.com" in result.stderr


def test_wait_returns_at_once_when_verified(stack: StackContext, cli: Cli) -> None:
    result = cli("verify-domain", "example.com", "--wait", "--timeout", "1m", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["verified"] is True


def test_rejects_a_bad_timeout(stack: StackContext, cli: Cli) -> None:
    result = cli("verify-domain", "example.com", "--wait", "--timeout", "soon")
    assert result.exit_code == 2
    assert "'soon' is not a duration" in result.stderr
