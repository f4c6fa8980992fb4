"""The chaos run (issue 13.4): the whole mail path on a private emulator, with faults on every AWS call the
handler makes plus Lambda timeouts and crashes, then where each email and outbound request ended.

``bench/bench_chaos.py`` runs it with 1,000 emails and 1,000 outbound requests, ``tests/local/test_chaos.py``
with 100 of each. The counting uses the deterministic ids: an ``inbound.email``'s ``id`` is a UUIDv5 of
(SES message id, target), so a copy delivered twice carries the same id, and any other id is a defect; an
outbound request's SES sends are found in the emulator's outbox by the correlationId in their subject.
Everything the run itself does (SMTP, putting requests on the outbound queue, reading the queues) uses
the emulator's own key, which the faults never hit.
"""

from __future__ import annotations

import json
import smtplib
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import parse_config
from mailflow_cli.context import StackContext
from mailflow_cli.deploy import deploy_stack
from mailflow_cli.local import control
from mailflow_cli.local.faults.endpoint import FaultsClient
from mailflow_cli.local.outbox import OutboxStore
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.send import with_verdicts
from mailflow_cli.local.server import EmulatorOptions
from mailflow_cli.local.ses_event import Verdicts
from mailflow_cli.local.state import EmulatorState
from mailflow_cli.local.tls import client_context
from mailflow_cli.naming import StackNames
from mailflow_handler.inbound.message import message_id_for

APPS = ("app1", "app2", "app3")
DOMAIN = "example.com"
FUNCTION_TIMEOUT = 10
BATCH_SIZE = 5
CONFIG = f"""\
environment: chaos
region: eu-west-1
domains:
  - {DOMAIN}
apps: [{", ".join(APPS)}]
lambda:
  timeoutSeconds: {FUNCTION_TIMEOUT}
outbound:
  batchSize: {BATCH_SIZE}
  maximumBatchingWindowSeconds: 1
"""
"""The function's timeout is short, so that a crash or a timeout is retried soon (once it has passed),
and long enough, with batches of 5, that botocore's backoff on throttled calls does not make invocations
time out by themselves: with 5 s and batches of 10, 1.5% did (docs/benchmarks.md, benchmark 12)."""

AWS_FAULTS = (
    "s3:*=0.15:SlowDown",
    "dynamodb:*=0.15:ProvisionedThroughputExceededException",
    "sqs:*=0.2:ServiceUnavailable",
    "sesv2:*=0.1:TooManyRequestsException",
)
"""A fault on every AWS call the handler makes, 10-20% of each service's calls."""
LOCK_FAULTS = (*AWS_FAULTS, "lambda:timeout=0.03", "lambda:crash=0.03")
"""...plus invocations that time out or crash right after their first write: the idempotency lock."""
ANYWHERE_FAULTS = (
    *LOCK_FAULTS,
    "lambda:crash=0.03;write=2",
    "lambda:crash=0.03;write=3",
    "lambda:crash=0.03;write=4",
)
"""...plus crashes after the second, third and fourth write: for a one-app email after the tagging of the
raw mail, after its SendMessage, after the final update; for an outbound request after the "SES asked"
mark, after SendEmail, after the status SendMessage (docs/handler.md, "Exactly once")."""

QUIET_SECONDS = 2 * (FUNCTION_TIMEOUT + 1)
"""Nothing new for this long once everything is accounted for: a retry comes at most one function timeout
(plus a second) after a crash, and may crash once more."""

KINDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    ("app1", ("_app1",), ("app1",), False),
    ("app2+app3", ("_app2", "_app3"), ("app2", "app3"), False),
    ("app3", ("_app3",), ("app3",), False),
    ("unknown app", ("_nosuchapp",), ("default",), False),
    ("virus", ("_app1",), ("quarantine",), True),
)
"""(kind, local parts of the recipients, targets, virus verdict), cycled through."""


@dataclass(frozen=True)
class Email:
    index: int
    kind: str
    ses_id: str
    targets: tuple[str, ...]
    data_done: float
    """time.time() when the SMTP DATA reply arrived."""


@dataclass(frozen=True)
class Request:
    correlation_id: str
    source: str


@dataclass
class Collected:
    """Everything the run found, read and deleted from the stack's queues and the outbox."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """``inbound.email`` bodies from the app and default queues, each with ``SentTimestamp``."""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    inbound_dlq: list[tuple[str, str]] = field(default_factory=list)
    """(SES message id, reason) of each inbound DLQ entry."""
    outbound_dlq: list[str] = field(default_factory=list)
    """The correlationId of each outbound DLQ entry."""
    quarantined: set[str] = field(default_factory=set)
    sends: Counter[str] = field(default_factory=Counter)
    """SES sends by correlationId (the outbox)."""

    def size(self) -> int:
        return (
            len(self.deliveries)
            + len(self.statuses)
            + len(self.inbound_dlq)
            + len(self.outbound_dlq)
            + len(self.quarantined)
            + sum(self.sends.values())
        )


@dataclass
class ChaosStack:
    home: Path
    state: EmulatorState
    clients: AwsClients
    names: StackNames

    def client(self, service: str) -> Any:
        return self.clients.client(service)

    @property
    def faults(self) -> FaultsClient:
        return FaultsClient(self.state)

    def queue_url(self, name: str) -> str:
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


@contextmanager
def chaos_stack(directory: Path) -> Iterator[ChaosStack]:
    """A private emulator (a process of its own) with the chaos config deployed; stopped afterwards."""
    home = directory / "home" / "local"
    options = EmulatorOptions(port=free_port(), smtp_port=free_port(), region="eu-west-1", home=home)
    state = control.start_background(options)
    try:
        clients = AwsClients(
            AwsTarget(
                region=state.region,
                endpoint_url=state.endpoint,
                access_key=state.access_key,
                secret_key=state.secret_key,
            )
        )
        config_path = directory / "mailflow.yaml"
        config_path.write_text(CONFIG, encoding="utf-8")
        context = StackContext(
            config=parse_config(CONFIG), config_path=config_path, clients=clients, local=True
        )
        deploy_stack(context, assume_yes=True)
        clients.client("ses").verify_domain_identity(Domain=DOMAIN)
        yield ChaosStack(home=home, state=state, clients=clients, names=context.names)
    finally:
        control.stop(home)


def _raw(subject: str, recipients: Sequence[str], virus: bool) -> bytes:
    raw = (
        f"From: Chaos <chaos@sender.example>\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@sender.example>\r\nContent-Type: text/plain\r\n\r\n"
        f"Hello from the chaos run.\r\n"
    ).encode()
    return with_verdicts(raw, Verdicts(virus="FAIL") if virus else None)


class SmtpSession:
    """One SMTP session over STARTTLS for many messages (reopened if the server ends it)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.state.smtp_host, self.state.smtp_port, timeout=60)
        smtp.ehlo("localhost")
        smtp.starttls(context=client_context())
        smtp.ehlo("localhost")
        return smtp

    def send(self, raw: bytes, recipients: Sequence[str]) -> tuple[str, float]:
        """The SES message id and the time the DATA reply arrived."""
        for attempt in range(2):
            try:
                if self.smtp is None:
                    self.smtp = self._open()
                self.smtp.mail("chaos@sender.example")
                for recipient in recipients:
                    code, reply = self.smtp.rcpt(recipient)
                    if code != 250:
                        raise RuntimeError(f"RCPT {recipient} refused: {code} {reply!r}")
                code, reply = self.smtp.data(raw)
                done = time.time()
                if code != 250:
                    raise RuntimeError(f"DATA refused: {code} {reply!r}")
                return reply.decode().split()[-1], done
            except smtplib.SMTPServerDisconnected:
                self.smtp = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.quit()


def send_emails(stack: ChaosStack, count: int, run: str) -> list[Email]:
    session = SmtpSession(stack.state)
    emails = []
    try:
        for index in range(count):
            kind, locals_, targets, virus = KINDS[index % len(KINDS)]
            recipients = [f"{local}@{DOMAIN}" for local in locals_]
            ses_id, done = session.send(_raw(f"chaos {run} in {index}", recipients, virus), recipients)
            emails.append(Email(index, kind, ses_id, targets, done))
    finally:
        session.close()
    return emails


def send_requests(stack: ChaosStack, count: int, run: str) -> list[Request]:
    """Outbound requests from the three apps, to addresses the emulator does not receive (the outbox)."""
    sqs = stack.client("sqs")
    url = stack.queue_url(stack.names.outbound_queue)
    requests = [Request(f"chaos-{run}-out-{index}", APPS[index % len(APPS)]) for index in range(count)]
    for start in range(0, count, 10):
        entries = [
            {
                "Id": str(number),
                "MessageBody": json.dumps(
                    {
                        "version": "1.0",
                        "correlationId": request.correlation_id,
                        "source": request.source,
                        "email": {
                            "from": {"address": f"_{request.source}@{DOMAIN}"},
                            "to": [{"address": f"customer{start + number}@customers.example"}],
                            "subject": f"chaos {request.correlation_id}",
                            "body": {"text": "Hello from the chaos run.\n"},
                        },
                    }
                ),
            }
            for number, request in enumerate(requests[start : start + 10])
        ]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"the outbound queue refused requests: {failed}")
    return requests


def _drain(sqs: Any, url: str, attributes: bool = False) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"] if attributes else [],
        ).get("Messages", [])
        if not messages:
            return found
        found += messages
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def collect(stack: ChaosStack, into: Collected) -> None:
    """Add what arrived since the last call (queue messages are deleted as they are read)."""
    sqs = stack.client("sqs")
    names = stack.names
    for queue in (*(names.app_queue(app) for app in APPS), names.default_queue):
        for message in _drain(sqs, stack.queue_url(queue)):
            body = json.loads(message["Body"])
            if body.get("type") == "inbound.email":
                into.deliveries.append({**body, "SentTimestamp": int(message["Attributes"]["SentTimestamp"])})
            elif body.get("type") == "outbound.status":
                into.statuses.append(body)
    for message in _drain(sqs, stack.queue_url(names.inbound_dlq), attributes=True):
        body = json.loads(message["Body"])
        if body.get("type") == "inbound.failure":
            into.inbound_dlq.append((str(body.get("sesMessageId")), str(body.get("reason"))))
        else:  # the SES event Lambda dead-lettered after its retries
            error = message.get("MessageAttributes", {}).get("ErrorMessage", {}).get("StringValue", "")
            into.inbound_dlq.append((str(body["Records"][0]["ses"]["mail"]["messageId"]), f"lambda: {error}"))
    for message in _drain(sqs, stack.queue_url(names.outbound_dlq)):
        body = json.loads(message["Body"])
        original = json.loads(body["original"]) if body.get("type") == "outbound.failure" else body
        into.outbound_dlq.append(str(original.get("correlationId")))
    pages = (
        stack.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=names.bucket, Prefix="quarantine/")
    )
    for page in pages:
        into.quarantined.update(
            item["Key"].removeprefix("quarantine/").removesuffix(".json")
            for item in page.get("Contents", [])
            if item["Key"].endswith(".json")
        )
    into.sends = Counter(
        entry.subject.removeprefix("chaos ") for entry in OutboxStore(stack.home / "outbox").entries()
    )


def settle(
    stack: ChaosStack,
    accounted: Callable[[Collected], bool],
    *,
    timeout: float,
    quiet: float = QUIET_SECONDS,
) -> Collected:
    """Collect until ``accounted`` holds and nothing new came for ``quiet`` seconds (or ``timeout``)."""
    collected = Collected()
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    size = 0
    while time.monotonic() < deadline:
        collect(stack, collected)
        if collected.size() != size:
            size, last_change = collected.size(), time.monotonic()
        if accounted(collected) and time.monotonic() - last_change >= quiet:
            break
        time.sleep(0.5)
    return collected


@dataclass
class InboundCounts:
    emails: int = 0
    targets: int = 0
    delivered_once: int = 0
    delivered_more: int = 0
    copies: int = 0
    """Deliveries beyond the first, all with the target's deterministic id."""
    other_ids: int = 0
    """Deliveries whose id is not the deterministic id of an expected (email, target): must be 0."""
    in_dlq: int = 0
    quarantined: int = 0
    lost: int = 0
    dlq_reasons: Counter[str] = field(default_factory=Counter)

    def accounted(self) -> bool:
        return self.lost == 0


def count_inbound(emails: Sequence[Email], collected: Collected) -> InboundCounts:
    expected = {message_id_for(e.ses_id, t): (e, t) for e in emails for t in e.targets if t != "quarantine"}
    copies: Counter[str] = Counter()
    counts = InboundCounts(emails=len(emails), targets=sum(len(e.targets) for e in emails))
    for body in collected.deliveries:
        if body.get("id") in expected:
            copies[body["id"]] += 1
        else:
            counts.other_ids += 1
    dead = dict(collected.inbound_dlq)
    for email in emails:
        for target in email.targets:
            delivered = copies[message_id_for(email.ses_id, target)] if target != "quarantine" else 0
            if delivered == 1:
                counts.delivered_once += 1
            elif delivered > 1:
                counts.delivered_more += 1
                counts.copies += delivered - 1
            elif target == "quarantine" and email.ses_id in collected.quarantined:
                counts.quarantined += 1
            elif email.ses_id in dead:
                counts.in_dlq += 1
                counts.dlq_reasons[dead[email.ses_id].split(":")[0]] += 1
            else:
                counts.lost += 1
    return counts


@dataclass
class OutboundCounts:
    requests: int = 0
    sent_once: int = 0
    sent_more: int = 0
    """Requests SES sent more than once: must be 0."""
    in_dlq: int = 0
    unknown: int = 0
    """Requests not sent whose app was told ``outcome_unknown``: an attempt died after marking the record
    "SES asked" and before SES answered, so a retry cannot tell whether it was sent and does not send."""
    lost: int = 0
    told_once: int = 0
    """Requests whose app got exactly one ``sent`` status."""
    told_unknown: int = 0
    """Requests SES sent whose app was told ``outcome_unknown`` (their attempt died after the send)."""
    told_more: int = 0
    not_told: int = 0
    retry_statuses: int = 0
    """``failed`` statuses with ``retry: true`` (a transient failure the app is told about)."""

    def accounted(self) -> bool:
        return self.lost == 0


def count_outbound(requests: Sequence[Request], collected: Collected) -> OutboundCounts:
    counts = OutboundCounts(requests=len(requests))
    sent_statuses: Counter[str] = Counter()
    unknown_statuses: Counter[str] = Counter()
    for status in collected.statuses:
        error = status.get("error") or {}
        if status.get("status") == "sent":
            sent_statuses[str(status.get("correlationId"))] += 1
        elif error.get("reason") == "outcome_unknown":
            unknown_statuses[str(status.get("correlationId"))] += 1
        elif status.get("retry"):
            counts.retry_statuses += 1
    dead = set(collected.outbound_dlq)
    for request in requests:
        sends = collected.sends[request.correlation_id]
        unknown = unknown_statuses[request.correlation_id]
        if sends == 1:
            counts.sent_once += 1
        elif sends > 1:
            counts.sent_more += 1
        elif request.correlation_id in dead:
            counts.in_dlq += 1
        elif unknown:
            counts.unknown += 1
        else:
            counts.lost += 1
        told = sent_statuses[request.correlation_id]
        if sends and told == 1:
            counts.told_once += 1
        elif told > 1 or unknown > 1:
            counts.told_more += 1
        elif sends and unknown:
            counts.told_unknown += 1
        elif sends:
            counts.not_told += 1
    return counts


@dataclass
class ChaosResult:
    faults: tuple[str, ...]
    seed: int
    inbound: InboundCounts
    outbound: OutboundCounts
    injected: dict[str, int]
    seconds: float
    own_timeouts: int
    """Invocations that timed out by themselves (not by a ``lambda:timeout`` rule)."""


def timeouts_logged(stack: ChaosStack) -> int:
    """The function's ``Task timed out`` lines so far."""
    pages = (
        stack.client("logs")
        .get_paginator("filter_log_events")
        .paginate(logGroupName=stack.names.log_group, filterPattern='"Task timed out"')
    )
    return sum(len(page.get("events", [])) for page in pages)


def chaos(stack: ChaosStack, *, emails: int, requests: int, faults: Sequence[str], seed: int) -> ChaosResult:
    """Set the faults, send, settle, count; the faults are cleared afterwards."""
    run = uuid.uuid4().hex[:8]
    timeouts_before = timeouts_logged(stack)
    stack.faults.set(list(faults), seed)
    started = time.monotonic()
    try:
        sent_requests = send_requests(stack, requests, run)
        sent_emails = send_emails(stack, emails, run)

        def accounted(collected: Collected) -> bool:
            return (
                count_inbound(sent_emails, collected).accounted()
                and count_outbound(sent_requests, collected).accounted()
            )

        collected = settle(stack, accounted, timeout=300 + (emails + requests) * 0.5)
        status = stack.faults.status()
    finally:
        stack.faults.clear()
    injected_timeouts = sum(rule.injected for rule in status.rules if rule.rule.startswith("lambda:timeout"))
    return ChaosResult(
        faults=tuple(faults),
        seed=seed,
        inbound=count_inbound(sent_emails, collected),
        outbound=count_outbound(sent_requests, collected),
        injected={rule.rule: rule.injected for rule in status.rules},
        seconds=time.monotonic() - started,
        own_timeouts=timeouts_logged(stack) - timeouts_before - injected_timeouts,
    )


@dataclass
class Latency:
    """Per email, without faults: from the SMTP DATA reply to the message on the app queue (SQS's
    SentTimestamp); of that, the emulator's part before the handler runs (DATA reply -> the invocation's
    START line: the asynchronous invoker's thread and the warm worker; the ingress stores the mail and
    submits the invocation before it replies); and the handler's own time (its log line's
    durationMs, nearly all of it its AWS calls, and including its last write, after the SendMessage). The
    yardstick: the handler's AWS calls for one email made by a plain boto3 client, timed in the same run."""

    end_to_end_ms: list[float]
    dispatch_ms: list[float]
    handler_ms: list[float]
    yardstick_ms: list[float]


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def handler_lines(stack: ChaosStack) -> dict[str, tuple[float, float]]:
    """By SES message id: the invocation's START time (epoch ms) and the handler's durationMs."""
    logs = stack.client("logs")
    starts: dict[str, float] = {}
    lines: dict[str, tuple[str, float]] = {}
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=stack.names.log_group):
        for event in page.get("events", []):
            text = event["message"]
            if text.startswith("START RequestId:"):
                starts[event["logStreamName"]] = float(event["timestamp"])
                continue
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("message") == "inbound email":
                lines[str(line.get("sesMessageId"))] = (event["logStreamName"], float(line["durationMs"]))
    return {ses_id: (starts[stream], ms) for ses_id, (stream, ms) in lines.items() if stream in starts}


def yardstick(stack: ChaosStack, ses_id: str) -> float:
    """The five calls the handler makes for a one-app email (GetObject of the raw mail, UpdateItem, a
    PutObjectTagging, a SendMessage of a 2 KB body, UpdateItem), made here; milliseconds."""
    s3, dynamodb, sqs = stack.client("s3"), stack.client("dynamodb"), stack.client("sqs")
    bucket, key, url = stack.names.bucket, f"raw/{ses_id}", stack.queue_url(stack.names.default_queue)
    item = {"id": {"S": f"yardstick#{uuid.uuid4()}"}}
    started = time.perf_counter()
    s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    dynamodb.update_item(
        TableName=stack.names.table,
        Key=item,
        UpdateExpression="SET #s = :s",
        ConditionExpression="attribute_not_exists(id)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "INPROGRESS"}},
    )
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "app1", "Value": "1"}]})
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"type": "yardstick", "pad": "x" * 2000}))
    dynamodb.update_item(
        TableName=stack.names.table,
        Key=item,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
    )
    elapsed = (time.perf_counter() - started) * 1000
    _drain(sqs, url)
    return elapsed


def latency(stack: ChaosStack, count: int) -> Latency:
    """One email at a time to app1, each waited for before the next, after one that starts the warm
    worker: latency without load or faults."""
    sqs = stack.client("sqs")
    url = stack.queue_url(stack.names.app_queue("app1"))
    session = SmtpSession(stack.state)
    arrivals: dict[str, tuple[float, float]] = {}
    """SES message id -> (DATA reply, SentTimestamp), epoch seconds."""
    ses_ids: list[str] = []
    try:
        for index in range(count + 1):
            recipient = f"_app1@{DOMAIN}"
            ses_id, done = session.send(_raw(f"latency {index}", [recipient], False), [recipient])
            deadline = time.monotonic() + 30
            while ses_id not in arrivals and time.monotonic() < deadline:
                for message in _drain_one(sqs, url):
                    body = json.loads(message["Body"])
                    sent = int(message["Attributes"]["SentTimestamp"]) / 1000
                    arrivals[str(body["metadata"]["sesMessageId"])] = (done, sent)
            if index:  # the first one starts the worker
                ses_ids.append(ses_id)
    finally:
        session.close()
    lines: dict[str, tuple[float, float]] = {}
    for _ in range(20):  # the runner writes an invocation's log lines once it has finished
        lines = handler_lines(stack)
        if all(ses_id in lines for ses_id in ses_ids):
            break
        time.sleep(0.5)
    measured = [ses_id for ses_id in ses_ids if ses_id in arrivals and ses_id in lines]
    return Latency(
        end_to_end_ms=[(arrivals[i][1] - arrivals[i][0]) * 1000 for i in measured],
        dispatch_ms=[lines[i][0] - arrivals[i][0] * 1000 for i in measured],
        handler_ms=[lines[i][1] for i in measured],
        yardstick_ms=[yardstick(stack, ses_id) for ses_id in ses_ids[: max(1, len(ses_ids) // 2)]],
    )


def _drain_one(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageSystemAttributeNames=["SentTimestamp"]
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return list(messages)


def summary(result: ChaosResult) -> dict[str, Any]:
    """The result as plain data (bench/results/chaos.json)."""
    inbound, outbound = result.inbound, result.outbound
    return {
        "faults": list(result.faults),
        "seed": result.seed,
        "seconds": round(result.seconds, 1),
        "injected": result.injected,
        "own_timeouts": result.own_timeouts,
        "inbound": {
            **{k: v for k, v in vars(inbound).items() if k != "dlq_reasons"},
            "dlq_reasons": dict(inbound.dlq_reasons),
            "duplicate_rate": inbound.delivered_more / inbound.targets if inbound.targets else 0.0,
        },
        "outbound": dict(vars(outbound)),
    }


def latency_summary(measured: Latency) -> dict[str, Any]:
    yard = statistics.median(measured.yardstick_ms)
    figures: dict[str, Any] = {"emails": len(measured.end_to_end_ms), "yardstick_ms": yard}
    for name, values in (
        ("end_to_end", measured.end_to_end_ms),
        ("emulator_dispatch", measured.dispatch_ms),
        ("handler", measured.handler_ms),
    ):
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        figures[name] = {"p50_ms": p50, "p99_ms": p99, "p50_ratio": p50 / yard, "p99_ratio": p99 / yard}
    return figures
