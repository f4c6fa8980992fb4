"""The monthly cost model of one Mailflow stack: list prices times the calls each email makes.

Prices
------
On-demand list prices (USD, no free tier, no savings plans) for us-east-1 and eu-west-1, as published on
the AWS pricing pages below. Recorded 2026-11-27 from the pages as last seen (AWS Lambda / SQS / S3 /
DynamoDB / SES / CloudWatch pricing pages; DynamoDB on-demand after the 50 % cut of 2024-11-01). They
were not fetched live from this machine: check them against the pages before quoting a figure.

- Lambda: https://aws.amazon.com/lambda/pricing/ - arm64 $0.0000133334 per GB-s, x86_64 $0.0000166667
  per GB-s (first tier), $0.20 per 1 M requests; same in both regions.
- SQS: https://aws.amazon.com/sqs/pricing/ - standard queues $0.40 per 1 M requests (64 KB chunks).
- S3: https://aws.amazon.com/s3/pricing/ - Standard, first 50 TB $0.023 per GB-month; PUT/COPY/POST/LIST
  $0.005 per 1,000; GET $0.0004 per 1,000; same in both regions.
- DynamoDB: https://aws.amazon.com/dynamodb/pricing/on-demand/ - on-demand $0.625 per 1 M write request
  units and $0.125 per 1 M read request units in us-east-1; $0.7068 / $0.1413 in eu-west-1.
- SES: https://aws.amazon.com/ses/pricing/ - receiving $0.10 per 1,000 mails plus $0.09 per 1,000
  incoming mail chunks of 256 KB; sending $0.10 per 1,000 mails plus $0.12 per GB of attachments.
- CloudWatch: https://aws.amazon.com/cloudwatch/pricing/ - log ingestion $0.50 per GB (us-east-1),
  $0.57 per GB (eu-west-1); log storage $0.03 per GB-month; standard alarms $0.10 per alarm metric a
  month (an alarm over a metric math expression pays for every metric in it); custom metrics (the
  handler's EMF metrics, only with ``observability.metrics``) $0.30 per metric-month (first 10,000).
- SNS: https://aws.amazon.com/sns/pricing/ - $0.50 per 1 M publishes (64 KB chunks); deliveries to SQS
  are free (SQS bills the messages it receives).

The usage side (calls per email, CPU per email) comes from ``bench/`` (benchmarks 1 and 3); the defaults
below are those measured figures, and the assumptions are spelled out in :class:`Workload`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
SES_CHUNK_BYTES = 256 * KB
SECONDS_PER_MONTH = 30 * 24 * 3600
FULL_VCPU_MEMORY_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; CPU share scales with memory
HANDLER_EMF_METRICS = 16  # EMF metric names the handler emits with observability.metrics (one dimension)


@dataclass(frozen=True)
class Prices:
    """List prices of one region, in USD per the unit named by each field."""

    region: str
    lambda_gb_second_arm64: float
    lambda_gb_second_x86_64: float
    lambda_per_request: float
    sqs_per_request: float
    s3_put_per_request: float
    s3_get_per_request: float
    s3_storage_gb_month: float
    dynamodb_per_write_unit: float
    dynamodb_per_read_unit: float
    ses_receive_per_mail: float
    ses_receive_per_chunk: float
    ses_send_per_mail: float
    ses_send_attachment_per_gb: float
    logs_ingest_per_gb: float
    logs_storage_gb_month: float
    alarm_metric_month: float
    custom_metric_month: float
    sns_per_publish: float


US_EAST_1 = Prices(
    region="us-east-1",
    lambda_gb_second_arm64=0.0000133334,
    lambda_gb_second_x86_64=0.0000166667,
    lambda_per_request=0.20 / 1_000_000,
    sqs_per_request=0.40 / 1_000_000,
    s3_put_per_request=0.005 / 1_000,
    s3_get_per_request=0.0004 / 1_000,
    s3_storage_gb_month=0.023,
    dynamodb_per_write_unit=0.625 / 1_000_000,
    dynamodb_per_read_unit=0.125 / 1_000_000,
    ses_receive_per_mail=0.10 / 1_000,
    ses_receive_per_chunk=0.09 / 1_000,
    ses_send_per_mail=0.10 / 1_000,
    ses_send_attachment_per_gb=0.12,
    logs_ingest_per_gb=0.50,
    logs_storage_gb_month=0.03,
    alarm_metric_month=0.10,
    custom_metric_month=0.30,
    sns_per_publish=0.50 / 1_000_000,
)

EU_WEST_1 = replace(
    US_EAST_1,
    region="eu-west-1",
    dynamodb_per_write_unit=0.7068 / 1_000_000,
    dynamodb_per_read_unit=0.1413 / 1_000_000,
    logs_ingest_per_gb=0.57,
)

PRICES: dict[str, Prices] = {p.region: p for p in (US_EAST_1, EU_WEST_1)}


def prices_for(region: str) -> tuple[Prices, bool]:
    """The region's prices, and whether they are exact (False: us-east-1 prices stand in)."""
    found = PRICES.get(region)
    return (found, True) if found is not None else (US_EAST_1, False)


@dataclass(frozen=True)
class Workload:
    """What one email costs in calls, bytes and CPU; defaults measured by ``bench/`` (docs/benchmarks.md).

    Lambda duration is modelled as ``cpu_s * max(1, 1769 / memory_mb)`` (Lambda's CPU share scales with
    memory; below 1,769 MB a function gets a fraction of a vCPU) plus the wall time spent waiting on AWS
    calls (``*_latency_s`` per call), plus botocore's own CPU per call. The measured CPU is from one x86
    core of the benchmark machine; Graviton (arm64) is assumed to be as fast.
    """

    # inbound, per received email
    inbound_cpu_s: float = 0.00069  # bench 1 (2026-11-27): mean CPU per corpus message, boto3 faked
    target_apps: float = 1.0  # apps (queues) each email is delivered to
    attachments: float = 0.725  # attachments per email (corpus mean)
    avg_email_bytes: int = 12 * KB  # corpus mean size
    avg_attachment_bytes: int = 8 * KB
    inbound_s3_reads: float = 1.0  # raw MIME read
    inbound_idempotency_writes: float = 2.0  # bench 3: one record per email, acquired then completed
    # outbound, per sent email
    outbound_ratio: float = 1.0  # sent emails per received email (apps replying)
    outbound_cpu_s: float = 0.0005
    outbound_idempotency_writes: float = 3.0  # lock, "SES asked" mark, outcome (docs/handler.md)
    outbound_status_messages: float = 1.0
    outbound_attachments: float = 0.0
    outbound_batch_size: float = 1.0  # emails per outbound invocation (1 at low volume, up to 10)
    # SES's feedback events, per sent email: Delivery, or Bounce/Complaint/Reject/... (Send only with
    # outbound.feedback.sendEvents: StackShape.send_events), each published to SNS, delivered to the events
    # queue and turned by the handler into one outbound.event on the app's queue
    events_per_sent_email: float = 1.0
    event_cpu_s: float = 0.0004  # assumed until bench_feedback_events measures it (parse, route, serialise)
    event_idempotency_writes: float = 1.0  # the handler's target per event (docs/benchmarks.md)
    events_per_invocation: float = 1.0  # events per invocation of the events mapping (1 at low volume)
    # AWS-side costs per call
    botocore_cpu_per_call_s: float = 0.0015
    s3_latency_s: float = 0.020
    dynamodb_latency_s: float = 0.006
    sqs_latency_s: float = 0.010
    ses_latency_s: float = 0.040
    # logs: Lambda START/END/REPORT lines plus the handler's JSON log line and EMF document
    log_bytes_per_invocation: int = 1_400
    # fixed per month
    long_poll_seconds: int = 20
    pollers_per_mapping: int = (
        5  # Lambda polls each SQS event source with at least 5 long-polling connections
    )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackShape:
    """The parts of ``mailflow.yaml`` that change the bill. ``alarm_metrics`` is what the deploy engine's
    alarms read (``commands.cost.shape_of`` counts them from the config; 7 for the example)."""

    apps: int = 2
    memory_mb: int = 512
    architecture: str = "arm64"
    raw_retention_days: int = 7
    attachment_retention_days: int = 30
    log_retention_days: int = 30
    alarm_metrics: int = 7
    custom_metrics: int = 0
    send_events: bool = False
    event_source_mappings: int = 2  # the outbound queue's and the SES events queue's


@dataclass(frozen=True)
class CostLine:
    service: str
    usage: str
    usd: float


@dataclass
class Estimate:
    region: str
    emails_per_month: int
    lines: list[CostLine] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    exact_region_prices: bool = True

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "emailsPerMonth": self.emails_per_month,
            "exactRegionPrices": self.exact_region_prices,
            "totalUsd": round(self.total, 4),
            "byService": {k: round(v, 4) for k, v in self.by_service().items()},
            "lines": [{"service": x.service, "usage": x.usage, "usd": round(x.usd, 4)} for x in self.lines],
            "assumptions": self.assumptions,
        }


def lambda_seconds(cpu_s: float, memory_mb: int, calls: float, wait_s: float, work: Workload) -> float:
    """Billed duration of one invocation: CPU scaled to the memory's vCPU share, plus waiting on AWS."""
    share = min(1.0, memory_mb / FULL_VCPU_MEMORY_MB)
    return (cpu_s + calls * work.botocore_cpu_per_call_s) / share + wait_s


def estimate(
    emails_per_month: int,
    prices: Prices = US_EAST_1,
    shape: StackShape | None = None,
    work: Workload | None = None,
) -> Estimate:
    """Monthly cost of ``emails_per_month`` received emails (and ``outbound_ratio`` times as many sent)."""
    if emails_per_month < 0:
        raise ValueError("emails_per_month must not be negative")
    shape = shape or StackShape()
    work = work or Workload()
    n = float(emails_per_month)
    out_n = n * work.outbound_ratio
    gb_s_price = (
        prices.lambda_gb_second_arm64 if shape.architecture == "arm64" else prices.lambda_gb_second_x86_64
    )
    memory_gb = shape.memory_mb / 1024
    est = Estimate(region=prices.region, emails_per_month=emails_per_month)
    add = est.lines.append

    # inbound Lambda: one invocation per email (SES Lambda action)
    in_writes = work.inbound_idempotency_writes
    in_calls = work.inbound_s3_reads + in_writes + work.target_apps + work.attachments
    in_wait = (
        (work.inbound_s3_reads + work.attachments) * work.s3_latency_s
        + in_writes * work.dynamodb_latency_s
        + work.target_apps * work.sqs_latency_s
    )
    in_s = lambda_seconds(work.inbound_cpu_s, shape.memory_mb, in_calls, in_wait, work)
    # outbound Lambda: one invocation per batch
    out_invocations = out_n / max(1.0, work.outbound_batch_size)
    out_calls = (
        work.outbound_idempotency_writes + 1 + work.outbound_status_messages + work.outbound_attachments
    )
    out_wait = (
        work.outbound_idempotency_writes * work.dynamodb_latency_s
        + work.ses_latency_s
        + work.outbound_status_messages * work.sqs_latency_s
        + work.outbound_attachments * work.s3_latency_s
    )
    out_s = lambda_seconds(work.outbound_cpu_s, shape.memory_mb, out_calls, out_wait, work)
    # events Lambda: one invocation per batch of SES events
    events = out_n * (work.events_per_sent_email + (1.0 if shape.send_events else 0.0))
    event_invocations = events / max(1.0, work.events_per_invocation)
    event_calls = work.event_idempotency_writes + 1
    event_wait = work.event_idempotency_writes * work.dynamodb_latency_s + work.sqs_latency_s
    event_s = lambda_seconds(work.event_cpu_s, shape.memory_mb, event_calls, event_wait, work)
    invocations = n + out_invocations + event_invocations
    gb_s = (n * in_s + out_n * out_s + events * event_s) * memory_gb
    add(
        CostLine(
            "Lambda",
            f"{invocations:,.0f} invocations, {shape.memory_mb} MB {shape.architecture}, "
            f"{in_s * 1000:.0f} ms inbound / {out_s * 1000:.0f} ms per outbound email / "
            f"{event_s * 1000:.0f} ms per SES event",
            gb_s * gb_s_price + invocations * prices.lambda_per_request,
        )
    )

    # SQS: deliveries + the apps' receive/delete; outbound send by app, poll/delete, status messages;
    # each event: SNS's send to the events queue, the mapping's poll/delete, the outbound.event message
    # and the app's receive/delete; plus the fixed cost of long polling (the apps' consumers and Lambda's
    # pollers of each event source mapping)
    polls_per_consumer = SECONDS_PER_MONTH / work.long_poll_seconds
    pollers = work.pollers_per_mapping * shape.event_source_mappings
    fixed_polls = polls_per_consumer * (shape.apps + 1 + pollers)
    per_email_sqs = (
        n * work.target_apps * 3
        + out_n * (1 + work.outbound_status_messages * 3)
        + out_invocations * 2
        + events * 4
        + event_invocations * 2
    )
    add(
        CostLine(
            "SQS",
            f"{per_email_sqs:,.0f} message requests + {fixed_polls:,.0f} idle long polls "
            f"({shape.apps + 1} app consumers, {pollers} Lambda pollers)",
            (per_email_sqs + fixed_polls) * prices.sqs_per_request,
        )
    )

    # S3: SES writes the raw mail (a PUT billed to the bucket owner), the handler reads it; attachments
    puts = n * (1 + work.attachments)
    gets = n * work.inbound_s3_reads + out_n * work.outbound_attachments
    stored_gb = (
        n * work.avg_email_bytes * shape.raw_retention_days / 30
        + n * work.attachments * work.avg_attachment_bytes * shape.attachment_retention_days / 30
    ) / GB
    add(
        CostLine(
            "S3",
            f"{puts:,.0f} PUT, {gets:,.0f} GET, {stored_gb:.2f} GB-month stored",
            puts * prices.s3_put_per_request
            + gets * prices.s3_get_per_request
            + stored_gb * prices.s3_storage_gb_month,
        )
    )

    writes = n * in_writes + out_n * work.outbound_idempotency_writes + events * work.event_idempotency_writes
    add(
        CostLine(
            "DynamoDB",
            f"{writes:,.0f} on-demand writes (idempotency, items < 1 KB)",
            writes * prices.dynamodb_per_write_unit,
        )
    )

    add(CostLine("SNS", f"{events:,.0f} SES events published", events * prices.sns_per_publish))

    chunks = max(1, math.ceil(work.avg_email_bytes / SES_CHUNK_BYTES))
    sent_attachment_gb = out_n * work.outbound_attachments * work.avg_attachment_bytes / GB
    add(
        CostLine(
            "SES",
            f"{n:,.0f} received ({chunks} chunk each), {out_n:,.0f} sent",
            n * (prices.ses_receive_per_mail + chunks * prices.ses_receive_per_chunk)
            + out_n * prices.ses_send_per_mail
            + sent_attachment_gb * prices.ses_send_attachment_per_gb,
        )
    )

    log_gb = invocations * work.log_bytes_per_invocation / GB
    retained_gb = log_gb * shape.log_retention_days / 30  # steady state: each month's logs kept that long
    add(
        CostLine(
            "CloudWatch",
            f"{log_gb:.3f} GB logs, {shape.custom_metrics} EMF metrics, {shape.alarm_metrics} alarm metrics",
            log_gb * prices.logs_ingest_per_gb
            + retained_gb * prices.logs_storage_gb_month
            + shape.custom_metrics * prices.custom_metric_month
            + shape.alarm_metrics * prices.alarm_metric_month,
        )
    )
    est.assumptions = [
        f"list prices of {prices.region}, no free tier",
        f"{work.outbound_ratio:g} sent email per received email; {work.target_apps:g} target app per email",
        f"inbound Lambda: {work.inbound_cpu_s * 1000:.2f} ms CPU (measured, one core) scaled by "
        f"1769/{shape.memory_mb} MB, plus {in_wait * 1000:.0f} ms waiting on AWS calls",
        f"{work.attachments:g} attachments and {work.avg_email_bytes // KB} KB per email (corpus means)",
        f"idle long polling every {work.long_poll_seconds} s by one consumer per app queue",
        f"{work.events_per_sent_email:g} SES event per sent email"
        + (" plus its Send event" if shape.send_events else ""),
    ]
    return est
