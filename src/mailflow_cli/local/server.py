"""The emulator process: moto behind the guard, SMTP ingress, Lambda runner, event source mappings, outbox.

``python -m mailflow_cli.local.server --port 4566 --smtp-port 2525 --region eu-west-1 --home DIR``
runs until SIGTERM/SIGINT, then stops every part and removes its state file. The state file is written
only once every part is ready, so its presence means the emulator can be used. Each start makes a new
access key (:class:`~mailflow_cli.local.state.Credentials`) that the AWS endpoint requires; the state
file is the only place it is written. ``DIR`` and everything in it is private to this user.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mailflow_cli.local.ports import HOST, port_is_free
from mailflow_cli.local.private_files import make_private
from mailflow_cli.local.state import Credentials, EmulatorState, state_file
from mailflow_cli.local.ui.session import new_token

if TYPE_CHECKING:
    from mailflow_cli.local.faults.control import FaultControl

log = logging.getLogger("mailflow.local")

EXIT_PORT_BUSY = 3


@dataclass(frozen=True)
class EmulatorOptions:
    port: int
    smtp_port: int
    region: str
    home: Path
    failure_visibility_seconds: int = 1
    ui_port: int = 0
    """The web inbox's port; 0 (the default here; ``mailflow local start`` gives 8025) turns it off."""

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def state_path(self) -> Path:
        return self.home / "state.json"


def _function_code(account_id_default: str) -> Any:
    from moto.awslambda.models import lambda_backends

    def fetch(name_or_arn: str, region: str) -> bytes:
        account = name_or_arn.split(":")[4] if name_or_arn.startswith("arn:") else account_id_default
        function = lambda_backends[account][region].get_function(name_or_arn)
        return bytes(function.code_bytes)

    return fetch


class _ClientCloser:
    """Closes the emulator's own keep-alive connections, so moto's request threads end before it stops."""

    def __init__(self, clients: list[Any]) -> None:
        self._clients = clients

    def close(self) -> None:
        for client in self._clients:
            client.close()


class _OtherRegionsRules:
    """The active receipt rules of each other region that moto's SES holds state for, by region."""

    def __init__(self, ses_client: Callable[[str], Any], own_region: str, account_id: str) -> None:
        self._ses_client = ses_client
        self._own_region = own_region
        self._account_id = account_id
        self._clients: dict[str, Any] = {}

    def __call__(self) -> dict[str, list[Any]]:
        from moto.ses.models import ses_backends

        found: dict[str, list[Any]] = {}
        for region in list(ses_backends[self._account_id]):
            if region == self._own_region:
                continue
            if region not in self._clients:
                self._clients[region] = self._ses_client(region)
            found[region] = list(self._clients[region].describe_active_receipt_rule_set().get("Rules") or [])
        return found

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class Emulator:
    """Every part of the emulator in this process; start() then stop()."""

    def __init__(self, options: EmulatorOptions, credentials: Credentials) -> None:
        self.options = options
        self.credentials = credentials
        self.ui_token = new_token()
        self.faults: FaultControl | None = None
        """The fault rules (``mailflow local faults`` and the web inbox's faults page), once started."""
        self._parts: list[Any] = []

    def _client(self, session: Any, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        return session.client(
            service,
            region_name=region,
            endpoint_url=self.options.endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )

    def start(self) -> None:
        from mailflow_cli.local import aws_endpoint

        aws_endpoint.disable_moto_cors()

        import boto3
        from moto.core.models import DEFAULT_ACCOUNT_ID

        from mailflow_cli.local import moto_patches
        from mailflow_cli.local.async_invoke import AsyncInvoker, invoke_api
        from mailflow_cli.local.esm_poller import EsmSupervisor
        from mailflow_cli.local.faults.control import FaultControl
        from mailflow_cli.local.lambda_runner import LambdaRunner
        from mailflow_cli.local.moto_ses_send import sent_mail
        from mailflow_cli.local.outbox import OutboxStore, OutboxWatcher
        from mailflow_cli.local.receiving import Receiver
        from mailflow_cli.local.ses_simulator import SesSimulator
        from mailflow_cli.local.smtp_ingress import SmtpIngress
        from mailflow_cli.local.tls import self_signed_context
        from mailflow_cli.local.trusted_code import ShippedHandler

        options = self.options
        moto_patches.apply()
        functions = Credentials.generate()  # the functions' own key: faults hit only their calls
        self.faults = FaultControl(functions.access_key)
        endpoint = aws_endpoint.AwsEndpoint(
            options.port, self.credentials.access_key, functions_key=functions.access_key, faults=self.faults
        )
        endpoint.start()
        self._parts.append(endpoint)

        session = boto3.Session(
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            region_name=options.region,
        )
        services = ("lambda", "logs", "sqs", "s3", "ses", "sesv2", "sns")
        clients = {name: self._client(session, name) for name in services}
        self._parts.append(_ClientCloser(list(clients.values())))
        other_regions = _OtherRegionsRules(
            lambda region: self._client(session, "ses", region), options.region, DEFAULT_ACCOUNT_ID
        )
        self._parts.append(other_regions)
        fetch = _function_code(DEFAULT_ACCOUNT_ID)
        runner = LambdaRunner(
            lambda_client=clients["lambda"],
            logs_client=clients["logs"],
            code_fetcher=lambda name: fetch(name, options.region),
            cache_dir=options.home / "code",
            endpoint=options.endpoint,
            region=options.region,
            credentials=functions,
            shipped=ShippedHandler.from_directory(),
            faults=self.faults.lambda_faults,
        )
        self._parts.append(runner)
        invoker = AsyncInvoker(runner, clients["sqs"])
        self._parts.append(invoker)
        moto_patches.route_lambda_invocations(invoke_api(runner, invoker))
        receiver = Receiver(
            ses_client=clients["ses"],
            s3_client=clients["s3"],
            runner=runner,
            async_invoker=invoker,
            region=options.region,
            other_regions=other_regions,
        )
        ingress = SmtpIngress(receiver, options.smtp_port, self_signed_context(options.home / "tls"))
        ingress.start()
        self._parts.append(ingress)
        supervisor = EsmSupervisor(
            lambda_client=clients["lambda"],
            sqs_client=clients["sqs"],
            invoke=runner.invoke,
            trust=runner.trusted_function,
            region=options.region,
            failure_visibility_seconds=options.failure_visibility_seconds,
        )
        supervisor.start()
        self._parts.append(supervisor)
        simulator = SesSimulator(
            sesv2=clients["sesv2"],
            ses=clients["ses"],
            sns=clients["sns"],
            account_id=DEFAULT_ACCOUNT_ID,
            region=options.region,
        )
        watcher = OutboxWatcher(
            sent_messages=lambda: sent_mail(DEFAULT_ACCOUNT_ID, options.region),
            receiver=receiver,
            store=OutboxStore(options.home / "outbox"),
            simulator=simulator,
        )
        watcher.start()
        self._parts.append(watcher)
        if options.ui_port:
            self._start_ui(runner, clients, OutboxStore(options.home / "outbox"), DEFAULT_ACCOUNT_ID)

    def _start_ui(self, runner: Any, clients: dict[str, Any], outbox: Any, account_id: str) -> None:
        from mailflow_cli.aws import AwsTarget
        from mailflow_cli.local.ui.app import UiSources
        from mailflow_cli.local.ui.server import UiServer
        from mailflow_cli.local.ui.session import UiSession
        from mailflow_cli.local.ui.stacks import StackFinder

        options = self.options
        sources = UiSources(
            session=UiSession(port=options.ui_port, token=self.ui_token),
            stacks=StackFinder(clients["lambda"], runner),
            s3=clients["s3"],
            outbox=outbox,
            account_id=account_id,
            region=options.region,
            smtp_host=HOST,
            smtp_port=options.smtp_port,
            aws_target=AwsTarget(
                region=options.region,
                endpoint_url=options.endpoint,
                access_key=self.credentials.access_key,
                secret_key=self.credentials.secret_key,
            ),
            faults=self.faults,
        )
        ui = UiServer(options.ui_port, sources)
        ui.start()
        self._parts.append(ui)

    def stop(self) -> None:
        """Stop in reverse order: nothing new comes in, running invocations finish, workers exit."""
        while self._parts:
            part = self._parts.pop()
            started = time.monotonic()
            try:
                part.stop() if hasattr(part, "stop") else part.close()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
            log.info("stopped %s in %.2f s", type(part).__name__, time.monotonic() - started)


def parse_args(argv: list[str] | None) -> EmulatorOptions:
    parser = argparse.ArgumentParser(prog="python -m mailflow_cli.local.server")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--home", type=Path, default=state_file().parent)
    parser.add_argument("--failure-visibility", type=int, default=1)
    parser.add_argument("--ui-port", type=int, default=0)
    args = parser.parse_args(argv)
    return EmulatorOptions(
        port=args.port,
        smtp_port=args.smtp_port,
        region=args.region,
        home=args.home,
        failure_visibility_seconds=args.failure_visibility,
        ui_port=args.ui_port,
    )


def run(options: EmulatorOptions, *, on_ready: Any = None) -> int:
    """Run in this process until a signal; return the exit status."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    for port in (options.port, options.smtp_port, options.ui_port):
        if port and not port_is_free(port):
            log.error("port %d on %s is in use", port, HOST)
            return EXIT_PORT_BUSY
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    make_private(options.home)
    credentials = Credentials.generate()
    emulator = Emulator(options, credentials)
    try:
        try:
            emulator.start()
        except OSError as exc:
            log.error("cannot start the emulator: %s", exc)
            return EXIT_PORT_BUSY if exc.errno == errno.EADDRINUSE else 1
        state = EmulatorState(
            pid=os.getpid(),
            endpoint=options.endpoint,
            smtp_host=HOST,
            smtp_port=options.smtp_port,
            region=options.region,
            started_at=time.time(),
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            ui_port=options.ui_port or None,
            ui_token=emulator.ui_token if options.ui_port else None,
        )
        state.save(options.state_path)
        log.info("emulator ready: %s, SMTP %s:%d", options.endpoint, HOST, options.smtp_port)
        if on_ready is not None:
            on_ready(state)
        stop.wait()
    finally:
        log.info("stopping")
        emulator.stop()
        _remove_own_state(options.state_path)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _remove_own_state(path: Path) -> None:
    from mailflow_cli.local.state import read_state

    state = read_state(path)
    if state is not None and state.pid == os.getpid():
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(parse_args(argv)))


if __name__ == "__main__":
    main()
