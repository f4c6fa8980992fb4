"""Putting a domain's SES records into its Route 53 hosted zone, re-runnably (UPSERT, never CREATE).

Records that belong to the user are respected: an existing MX pointing elsewhere is left alone unless
``replace_mx`` is given, and an existing DMARC policy is kept. The ``_amazonses`` TXT keeps the
tokens of other regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from mailflow_cli.access import Condition, Grant, Scopes, allow
from mailflow_cli.errors import MailflowError
from mailflow_cli.operate.dns_records import TTL_SECONDS, DnsRecord

ChangeAction = Literal["created", "updated", "unchanged", "kept"]


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Any public zone is searched and read (its id is found at run time), but only UPSERTs of records
    in the configured domains are allowed."""
    record_names = tuple(name for domain in scopes.domains for name in (domain, f"*.{domain}"))
    upserts_in_the_domains = Condition(
        "OnlyUpsertsInTheDomains",
        (
            (
                "ForAllValues:StringLike",
                "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                record_names,
            ),
            ("ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsActions", ("UPSERT",)),
        ),
    )
    return (
        allow(scopes.any, "route53:ListHostedZonesByName"),
        allow(scopes.hosted_zones, "route53:ListResourceRecordSets"),
        allow(scopes.hosted_zones, "route53:ChangeResourceRecordSets", when=upserts_in_the_domains),
        allow(scopes.dns_changes, "route53:GetChange"),
    )


@dataclass(frozen=True)
class RecordChange:
    name: str
    type: str
    action: ChangeAction
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "action": self.action, "detail": self.detail}


@dataclass(frozen=True)
class HostedZone:
    id: str
    name: str


def find_hosted_zone(route53: Any, domain: str) -> HostedZone:
    """The public zone whose name is the longest suffix of ``domain``."""
    best: HostedZone | None = None
    paginator_args: dict[str, Any] = {}
    while True:
        page = route53.list_hosted_zones_by_name(**paginator_args)
        for zone in page.get("HostedZones", []):
            if zone.get("Config", {}).get("PrivateZone"):
                continue
            name = str(zone["Name"]).rstrip(".").lower()
            matches = domain == name or domain.endswith("." + name)
            if matches and (best is None or len(name) > len(best.name)):
                best = HostedZone(id=str(zone["Id"]).rsplit("/", 1)[-1], name=name)
        if not page.get("IsTruncated"):
            break
        paginator_args = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}
    if best is None:
        raise MailflowError(
            f"no public Route 53 hosted zone holds {domain}",
            hint="add the records at your DNS provider instead (drop --route53), or create the zone first",
        )
    return best


def _existing_values(route53: Any, zone_id: str, name: str, record_type: str) -> list[str] | None:
    page = route53.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=record_type, MaxItems="1"
    )
    for record_set in page.get("ResourceRecordSets", []):
        if record_set["Name"].rstrip(".").lower() == name and record_set["Type"] == record_type:
            return [str(r["Value"]) for r in record_set.get("ResourceRecords", [])]
    return None


def plan_changes(
    route53: Any, zone_id: str, records: list[DnsRecord], *, replace_mx: bool = False
) -> tuple[list[RecordChange], list[dict[str, Any]]]:
    """What would change (for the report) and the UPSERTs that make it so."""
    report: list[RecordChange] = []
    upserts: list[dict[str, Any]] = []
    ordered = sorted(records, key=lambda r: (r.name, r.type))
    for (name, record_type), group in groupby(ordered, key=lambda r: (r.name, r.type)):
        wanted = [record.rdata for record in group]
        existing = _existing_values(route53, zone_id, name, record_type)
        values, change = _decide(name, record_type, wanted, existing, replace_mx)
        report.append(change)
        if change.action in ("created", "updated"):
            upserts.append(
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": record_type,
                        "TTL": TTL_SECONDS,
                        "ResourceRecords": [{"Value": value} for value in values],
                    },
                }
            )
    return report, upserts


def _decide(
    name: str, record_type: str, wanted: list[str], existing: list[str] | None, replace_mx: bool
) -> tuple[list[str], RecordChange]:
    if existing is None:
        return wanted, RecordChange(name, record_type, "created", ", ".join(wanted))
    if all(value in existing for value in wanted):
        return existing, RecordChange(name, record_type, "unchanged")
    if record_type == "MX" and not replace_mx:
        return existing, RecordChange(
            name, record_type, "kept", f"existing MX {', '.join(existing)} left alone (pass --replace-mx)"
        )
    if name.startswith("_dmarc."):
        return existing, RecordChange(name, record_type, "kept", "existing DMARC policy kept")
    if name.startswith("_amazonses."):
        merged = existing + [value for value in wanted if value not in existing]
        return merged, RecordChange(name, record_type, "updated", f"added {', '.join(wanted)}")
    return wanted, RecordChange(name, record_type, "updated", f"{', '.join(existing)} -> {', '.join(wanted)}")


def apply_records(
    route53: Any,
    zone: HostedZone,
    records: list[DnsRecord],
    *,
    replace_mx: bool = False,
    wait_delay: int = 10,
) -> list[RecordChange]:
    report, upserts = plan_changes(route53, zone.id, records, replace_mx=replace_mx)
    if upserts:
        change = route53.change_resource_record_sets(
            HostedZoneId=zone.id,
            ChangeBatch={"Comment": "mailflow verify-domain", "Changes": upserts},
        )
        route53.get_waiter("resource_record_sets_changed").wait(
            Id=change["ChangeInfo"]["Id"], WaiterConfig={"Delay": wait_delay, "MaxAttempts": 60}
        )
    return report
