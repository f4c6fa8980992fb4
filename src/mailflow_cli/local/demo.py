"""``mailflow demo``: the whole mail path on a private emulator, step by step, then teardown.

Each step checks what it shows; the first step that does not behave as shown ends the demo with a
non-zero status (after teardown). The outbound feedback steps send to SES's mailbox simulator and wait
for the ``outbound.event`` messages (delivery, bounce) the handler puts on the sending app's queue.
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from mailflow_cli.config import MailflowConfig, parse_config
from mailflow_cli.console import err, out, styled
from mailflow_cli.errors import MailflowError
from mailflow_cli.local.control import log_path, server_command, wait_ready
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.private_files import append_private
from mailflow_cli.local.server import EmulatorOptions
from mailflow_cli.local.state import EmulatorState
from mailflow_cli.local.tls import client_context

EXAMPLE_NAME = "mailflow.yaml.example"
WAIT_SECONDS = 20.0
ATTACHMENT = b"id,amount\n1,42.00\n2,17.50\n"
SIMULATOR_SUCCESS = "success@simulator.amazonses.com"
SIMULATOR_BOUNCE = "bounce@simulator.amazonses.com"


class DemoFailure(Exception):
    """A step did not behave as the demo says it does."""


@dataclass
class Timings:
    rows: list[tuple[str, float, bool]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        err.print(styled((f"▶ {title}", "bold cyan")))
        started = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.rows.append((title, time.monotonic() - started, ok))

    def table(self) -> Table:
        table = Table("step", "time", "result", title="mailflow demo")
        for title, seconds, ok in self.rows:
            table.add_row(title, f"{seconds:.2f} s", styled(("ok", "green") if ok else ("failed", "red")))
        table.add_row(
            styled(("total", "bold")), styled((f"{sum(r[1] for r in self.rows):.2f} s", "bold")), ""
        )
        return table


def example_config_text() -> tuple[str, str]:
    """The packaged example (wheel: mailflow_cli/data/), or the one at the root of a source checkout."""
    from importlib.resources import files

    import mailflow_cli

    packaged = files("mailflow_cli") / "data" / EXAMPLE_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8"), str(packaged)
    checkout = Path(mailflow_cli.__file__).resolve().parents[2] / EXAMPLE_NAME
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8"), str(checkout)
    raise MailflowError(f"{EXAMPLE_NAME} is not packaged with this installation", hint="pass -c/--config")


class Inbox:
    """The demo is its apps' consumer: it deletes every message it reads from an app queue, and keeps the
    ones no step has asked for yet until one does (leaving them on the queue would count a receive
    each time a step looked, and push them to the dead-letter queue after maxReceiveCount)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.kept: dict[str, list[dict[str, Any]]] = {}

    def wait(
        self, url: str, accept: Callable[[dict[str, Any]], bool], what: str, timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        """The first message on ``url`` whose JSON body ``accept`` takes."""
        kept = self.kept.setdefault(url, [])
        deadline = time.monotonic() + timeout
        while True:
            for body in kept:
                if accept(body):
                    kept.remove(body)
                    return body
            if time.monotonic() >= deadline:
                raise DemoFailure(f"{what} did not arrive within {timeout:.0f} s")
            response = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in response.get("Messages", []):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    continue
                if isinstance(body, dict):
                    kept.append(body)


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def inbound_email(sender: str, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Alice <{sender}>"
    message["To"] = recipient
    message["Subject"] = "Invoice 2026-001"
    message["Message-ID"] = f"<{uuid.uuid4()}@sender.example>"
    message.set_content("Hello app1,\n\nthe invoice is attached.\n\nAlice\n")
    message.add_attachment(ATTACHMENT, maintype="text", subtype="csv", filename="invoice.csv")
    return message


def show(title: str, data: Any) -> None:
    out.print(Panel(json.dumps(data, indent=2, default=str), title=title, expand=False, border_style="green"))


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise DemoFailure(problem)


class Demo:
    def __init__(self, config: MailflowConfig, config_path: Path, state: EmulatorState) -> None:
        from mailflow_cli.aws import AwsClients, AwsTarget
        from mailflow_cli.context import StackContext

        target = AwsTarget(
            region=config.region,
            endpoint_url=state.endpoint,
            access_key=state.access_key,
            secret_key=state.secret_key,
        )
        self.config = config
        self.state = state
        self.ctx = StackContext(
            config=config, config_path=config_path, clients=AwsClients(target), local=True
        )
        self.outputs: dict[str, Any] = {}
        self.domain = config.domains[0]
        apps = config.app_names
        if len(apps) < 2:
            raise MailflowError("the demo needs a config with at least two apps")
        self.app1, self.app2 = apps[0], apps[1]

    @property
    def sqs(self) -> Any:
        return self.ctx.clients.client("sqs")

    @cached_property
    def inbox(self) -> Inbox:
        return Inbox(self.sqs)

    def deploy(self) -> None:
        from mailflow_cli.deploy import deploy_stack

        self.outputs = dict(deploy_stack(self.ctx, assume_yes=True).to_json())
        _check(
            self.app1 in self.outputs.get("appQueueUrls", {}), f"the deploy created no queue for {self.app1}"
        )

    def verify_domains(self) -> None:
        """As `mailflow verify-domain` would; SES in the emulator reports Success at once."""
        ses = self.ctx.clients.client("ses")
        for domain in self.config.domains:
            ses.verify_domain_identity(Domain=domain)
        status = ses.get_identity_verification_attributes(Identities=list(self.config.domains))
        states = {
            d: status["VerificationAttributes"].get(d, {}).get("VerificationStatus")
            for d in self.config.domains
        }
        _check(all(value == "Success" for value in states.values()), f"domain verification: {states}")

    def inbound(self) -> None:
        recipient = f"_{self.app1}@{self.domain}"
        message = inbound_email("alice@sender.example", recipient)
        try:
            with smtplib.SMTP(self.state.smtp_host, self.state.smtp_port, timeout=30) as smtp:
                smtp.starttls(context=client_context())
                refused = smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DemoFailure(f"the SMTP ingress did not take the message: {exc}") from None
        _check(not refused, f"the SMTP ingress refused {recipient}: {refused}")
        body = self.inbox.wait(
            self.outputs["appQueueUrls"][self.app1],
            lambda b: b.get("type") == "inbound.email" and b.get("app") == self.app1,
            f"the inbound message on {self.app1}'s queue",
        )
        show(f"on {self.app1}'s queue", body)
        email = body.get("email") or {}
        attachments = email.get("attachments") or []
        _check(email.get("subject") == "Invoice 2026-001", "the subject did not survive the trip")
        _check(len(attachments) == 1, f"expected 1 attachment, got {len(attachments)}")
        stored = (
            self.ctx.clients.client("s3")
            .get_object(Bucket=attachments[0]["s3Bucket"], Key=attachments[0]["s3Key"])["Body"]
            .read()
        )
        _check(stored == ATTACHMENT, "the attachment in S3 differs from the one sent")

    def outbound(self, to: str, subject: str) -> str:
        correlation = f"demo-{uuid.uuid4().hex[:8]}"
        request = {
            "version": "1.0",
            "correlationId": correlation,
            "source": self.app1,
            "email": {
                "from": {"address": f"_{self.app1}@{self.domain}", "name": self.app1},
                "to": [{"address": to}],
                "subject": subject,
                "body": {"text": f"{self.app1} says hello."},
            },
        }
        show(f"{self.app1} puts on the outbound queue", request)
        self.sqs.send_message(QueueUrl=self.outputs["outboundQueueUrl"], MessageBody=json.dumps(request))
        return correlation

    def delivered(self) -> None:
        body = self.inbox.wait(
            self.outputs["appQueueUrls"][self.app2],
            lambda b: b.get("type") == "inbound.email" and b.get("app") == self.app2,
            f"the message from {self.app1} on {self.app2}'s queue",
        )
        show(f"on {self.app2}'s queue", body)
        _check(
            (body.get("email") or {}).get("subject") == f"Hello {self.app2}", "wrong subject on app2's queue"
        )

    def status(self, correlation: str) -> None:
        body = self.inbox.wait(
            self.outputs["appQueueUrls"][self.app1],
            lambda b: b.get("type") == "outbound.status" and b.get("correlationId") == correlation,
            f"the outbound.status on {self.app1}'s queue",
        )
        show(f"outbound.status on {self.app1}'s queue", body)
        _check(body.get("status") == "sent", f"the outbound message was not sent: {body.get('error')}")

    def feedback_deployed(self) -> None:
        """SES publishes events only for sends through the stack's configuration set (contract E:
        named after the stack)."""
        from botocore.exceptions import ClientError

        from mailflow_cli.aws import error_code

        name = self.ctx.names.prefix
        try:
            self.ctx.clients.client("sesv2").get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            if error_code(exc) != "NotFoundException":
                raise
            raise DemoFailure(
                f"the deploy created no SES configuration set {name}, so SES publishes no delivery or "
                "bounce events: this Mailflow does not deploy outbound feedback"
            ) from None

    def feedback(self, to: str, event: str) -> None:
        """Send to SES's mailbox simulator; the SES event reaches the app as an ``outbound.event``."""
        correlation = self.outbound(to, f"Hello {to.partition('@')[0]}")
        self.status(correlation)
        what = f"the outbound.event ({event}) for {correlation} on {self.app1}'s queue"
        try:
            body = self.inbox.wait(
                self.outputs["appQueueUrls"][self.app1],
                lambda b: (
                    b.get("type") == "outbound.event"
                    and b.get("correlationId") == correlation
                    and b.get("event") == event
                ),
                what,
            )
        except DemoFailure as missing:
            raise DemoFailure(
                f"{missing}. The emulator's log says which SES events were published for the message; "
                f"the handler takes them from the queue {self.ctx.names.prefix}-ses-events (dead letters: "
                f"`mailflow dlq list`)"
            ) from None
        show(f"outbound.event on {self.app1}'s queue", body)

    def dead_letter_queues_empty(self) -> None:
        urls = self.outputs.get("deadLetterQueueUrls") or {}
        listed = urls.values() if isinstance(urls, dict) else urls
        depths = {str(url).rsplit("/", 1)[-1]: queue_depth(self.sqs, str(url)) for url in listed}
        table = Table("dead-letter queue", "messages")
        for name, depth in depths.items():
            table.add_row(name, str(depth))
        out.print(table)
        _check(bool(depths), "the deploy reported no dead-letter queues")
        _check(all(depth == 0 for depth in depths.values()), "a dead-letter queue is not empty")

    def destroy(self) -> None:
        from mailflow_cli.deploy import destroy_stack

        destroy_stack(self.ctx, force=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_demo(config_path: Path | None = None) -> int:
    if config_path is not None:
        text, source = config_path.read_text(encoding="utf-8"), str(config_path)
    else:
        text, source = example_config_text()
    config = parse_config(text, source)
    timings = Timings()
    failure: str | None = None
    with tempfile.TemporaryDirectory(prefix="mailflow-demo-") as tmp:
        home = Path(tmp)
        path = home / "mailflow.yaml"
        path.write_text(text, encoding="utf-8")
        options = EmulatorOptions(port=free_port(), smtp_port=free_port(), region=config.region, home=home)
        process: subprocess.Popen[bytes] | None = None
        demo: Demo | None = None
        deployed = False
        try:
            with timings.step("start a private emulator"):
                with append_private(log_path(home)) as log_file:
                    process = subprocess.Popen(
                        server_command(options), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
                    )
                state = wait_ready(process, options, log_path(home), 30)
                err.print(f"  AWS endpoint {state.endpoint}, SMTP {state.smtp_host}:{state.smtp_port}")
            demo = Demo(config, path, state)
            with timings.step(f"deploy {Path(source).name} (environment {config.environment})"):
                deployed = True
                demo.deploy()
            with timings.step(f"verify {', '.join(config.domains)} for sending"):
                demo.verify_domains()
            with timings.step(f"SMTP: mail with an attachment to _{demo.app1}@{demo.domain}"):
                demo.inbound()
            with timings.step(f"{demo.app1} sends to _{demo.app2}@{demo.domain}: outbound.status"):
                demo.status(demo.outbound(f"_{demo.app2}@{demo.domain}", f"Hello {demo.app2}"))
            with timings.step(f"delivery on {demo.app2}'s queue"):
                demo.delivered()
            with timings.step(f"{demo.app1} sends to {SIMULATOR_SUCCESS}: a delivery event"):
                demo.feedback_deployed()
                demo.feedback(SIMULATOR_SUCCESS, "delivery")
            with timings.step(f"{demo.app1} sends to {SIMULATOR_BOUNCE}: a bounce event"):
                demo.feedback(SIMULATOR_BOUNCE, "bounce")
            with timings.step("dead-letter queues are empty"):
                demo.dead_letter_queues_empty()
        except (DemoFailure, MailflowError) as problem:
            failure = problem.message if isinstance(problem, MailflowError) else str(problem)
        finally:
            if demo is not None and deployed:
                try:
                    with timings.step("destroy the stack"):
                        demo.destroy()
                except Exception as exc:
                    failure = failure or f"destroy failed: {exc}"
            if process is not None:
                with timings.step("stop the emulator"):
                    _stop(process)
            if failure:
                log_tail = log_path(home).read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
                err.print(styled(("The emulator's log ended with:", "dim"), "\n" + "\n".join(log_tail)))
    out.print(timings.table())
    if failure:
        err.print(styled(("The demo failed:", "bold red"), f" {failure}"))
        return 1
    err.print(
        styled(("Every step behaved as shown.", "bold green"), " Try it yourself: `mailflow local start`.")
    )
    return 0
