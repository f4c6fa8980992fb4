"""Runs Mailflow's handler functions deployed in the emulator: their code zip, environment and timeout.

Only functions :mod:`mailflow_cli.local.trusted_code` accepts are run (Mailflow's handler, as this CLI
ships it); any other invocation fails with ``Mailflow.FunctionRefused`` and a log line, and nothing of
the function is unpacked or started. Each function version (CodeSha256 + handler + environment) gets
warm worker processes (:mod:`mailflow_cli.local.runner_entry`) that serve invocations one at a time; a
worker that times out or dies is discarded. Workers get a minimal environment: a private scratch
directory as HOME and TMPDIR, the emulator's endpoint, the functions' access key (not the emulator's own)
with a session token per worker, and nothing of this user's AWS configuration. Every invocation's log
lines go to the function's CloudWatch log group in the emulator, in a new stream, framed by
START/END/REPORT lines as Lambda writes them.

Lambda faults (:mod:`mailflow_cli.local.faults.lambda_faults`): an invocation picked to time out has its
worker stopped (SIGSTOP) right after its Nth successful write call, and the function's timeout then
kills it as any timeout; one picked to crash has its worker killed (SIGKILL) there.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mailflow_cli.local.private_files import private_dir, write_private
from mailflow_cli.local.runner_entry import LOG_END_MARKER
from mailflow_cli.local.state import Credentials
from mailflow_cli.local.trusted_code import FunctionRefused, ShippedHandler, check_identity

if TYPE_CHECKING:
    from mailflow_cli.local.faults.calls import Call
    from mailflow_cli.local.faults.lambda_faults import LambdaFaults

log = logging.getLogger("mailflow.local.lambda")

CodeFetcher = Callable[[str], bytes]
"""Returns the deployed zip of a function, given its name."""

_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TZ")
_IGNORED_FUNCTION_VARIABLES = ("AWS_", "PYTHON", "LD_", "DYLD_", "LAMBDA_", "_HANDLER", "HOME", "TMPDIR")
"""Names a function's environment may not set: Lambda's and the interpreter's, HOME and TMPDIR."""
REFUSED_ERROR_TYPE = "Mailflow.FunctionRefused"
TIMED_OUT = "Sandbox.Timedout"
EXITED = "Runtime.ExitError"
SETTLE_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    timeout_seconds: float
    memory_mb: int
    code_sha256: str
    environment: dict[str, str]
    dead_letter_arn: str | None
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, function: dict[str, Any]) -> FunctionSpec:
        """From GetFunction's answer: the configuration and the function's tags."""
        config = function["Configuration"]
        return cls(
            name=str(config["FunctionName"]),
            arn=str(config["FunctionArn"]),
            handler=str(config["Handler"]),
            timeout_seconds=float(config.get("Timeout", 3)),
            memory_mb=int(config.get("MemorySize", 128)),
            code_sha256=str(config["CodeSha256"]),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            dead_letter_arn=(config.get("DeadLetterConfig") or {}).get("TargetArn") or None,
            tags=dict(function.get("Tags") or {}),
        )

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def key(self) -> str:
        return json.dumps([self.arn, self.code_sha256, self.handler, self.memory_mb, self.environment])


@dataclass
class InvokeResult:
    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    logs: list[tuple[int, str]] = field(default_factory=list)
    duration_ms: float = 0.0
    log_stream: str = ""
    settle_seconds: float = 0.0
    """How long a retry of this event must wait at least: an invocation that timed out or whose process
    died may have left locks that last until its deadline (the handler's idempotency record does)."""

    @property
    def failed(self) -> bool:
        return self.error is not None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _reader(stream: IO[str], sink: Callable[[str | None], None]) -> None:
    for line in stream:
        sink(line.rstrip("\n"))
    sink(None)


class Worker:
    """One warm process for one function version; serves one invocation at a time."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, environment: Mapping[str, str]) -> None:
        self.token = secrets.token_urlsafe(32)
        """The worker's session token: its calls to the endpoint carry it (X-Amz-Security-Token)."""
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "mailflow_cli.local.runner_entry"],
            cwd=code_dir,
            env={**environment, "AWS_SESSION_TOKEN": self.token},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._responses: queue.Queue[str | None] = queue.Queue()
        self._log_lock = threading.Lock()
        self._current: list[tuple[int, str]] = []  # since the last invocation ended (start-up included)
        self._finished: list[tuple[int, str]] = []  # the last ended invocation's lines
        self._log_done = threading.Event()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        for stream, sink in ((self.process.stdout, self._responses.put), (self.process.stderr, self._on_log)):
            threading.Thread(target=_reader, args=(stream, sink), daemon=True).start()

    def _on_log(self, line: str | None) -> None:
        with self._log_lock:
            if line is None or line.startswith(LOG_END_MARKER):
                self._finished, self._current = self._current, []
                self._log_done.set()
            else:
                self._current.append((_now_ms(), line))

    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, spec: FunctionSpec, event: Any, request_id: str, stream: str) -> InvokeResult:
        started = time.monotonic()
        deadline_ms = _now_ms() + int(spec.timeout_seconds * 1000)
        self._log_done.clear()
        request = {
            "event": event,
            "requestId": request_id,
            "functionArn": spec.arn,
            "deadlineMs": deadline_ms,
            "logStreamName": stream,
        }
        result = InvokeResult(request_id=request_id, log_stream=stream)
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self._responses.get(timeout=spec.timeout_seconds)
        except queue.Empty:
            self.kill()
            result.error = {
                "errorType": TIMED_OUT,
                "errorMessage": f"Task timed out after {spec.timeout_seconds:.2f} seconds",
            }
            line = None
        except (BrokenPipeError, OSError) as exc:
            line = None
            result.error = {"errorType": EXITED, "errorMessage": str(exc)}
        if line is None and result.error is None:
            self.process.wait(timeout=5)
            result.error = {
                "errorType": EXITED,
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                f"{_exit_status(self.process.returncode)}",
            }
        elif line is not None:
            response = json.loads(line)
            if response.get("ok"):
                result.payload = response.get("result")
            else:
                result.error = response.get("error") or {"errorType": "Unknown", "errorMessage": ""}
        ended = self._log_done.wait(timeout=2)
        with self._log_lock:
            result.logs = list(self._finished if ended else self._current)
            if not ended:
                self._current = []
        if result.error is not None and result.error["errorType"] == TIMED_OUT:
            result.logs.append((_now_ms(), f"{_short_time()} {request_id} {result.error['errorMessage']}"))
        elif result.error is not None and result.error["errorType"] == EXITED:  # as Lambda logs it
            result.logs += [(_now_ms(), result.error["errorMessage"]), (_now_ms(), EXITED)]
        result.duration_ms = (time.monotonic() - started) * 1000
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)

    def inject(self, effect: str) -> None:
        """A Lambda fault, without waiting: ``timeout`` stops the process (SIGSTOP; the function's timeout
        then ends the invocation), ``crash`` kills it (SIGKILL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP if effect == "timeout" else signal.SIGKILL)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def _exit_status(code: int) -> str:
    """As Lambda words it: ``signal: killed`` or ``exit status 1``."""
    if code < 0:
        return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
    return f"exit status {code}"


def _cli_path() -> list[str]:
    """Where ``mailflow_cli`` lives, so the worker can run the entry module (and nothing else of ours)."""
    import mailflow_cli

    return [str(Path(mailflow_cli.__file__).resolve().parent.parent)]


def _short_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_stream_name(request_id: str) -> str:
    return datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]") + request_id.replace("-", "")


class LambdaRunner:
    """Invokes functions by ARN or name: looks up the configuration, keeps warm workers, writes logs."""

    def __init__(
        self,
        *,
        lambda_client: Any,
        logs_client: Any,
        code_fetcher: CodeFetcher,
        cache_dir: Path,
        endpoint: str,
        region: str,
        credentials: Credentials,
        shipped: ShippedHandler,
        faults: LambdaFaults | None = None,
    ) -> None:
        """``credentials`` are the functions' (the workers sign with them), not the emulator's own."""
        self._lambda = lambda_client
        self._logs = logs_client
        self._fetch = code_fetcher
        self._endpoint = endpoint
        self._region = region
        self._credentials = credentials
        self._shipped = shipped
        self._faults = faults
        shutil.rmtree(cache_dir, ignore_errors=True)  # only code verified by this process is ever run
        self._cache_dir = private_dir(cache_dir)
        self._scratch = Path(tempfile.mkdtemp(prefix="mailflow-lambda-"))
        self._lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._closed = False

    def function(self, name_or_arn: str) -> FunctionSpec:
        return FunctionSpec.from_api(self._lambda.get_function(FunctionName=name_or_arn))

    def trusted_function(self, name_or_arn: str) -> FunctionSpec:
        """The function's configuration, if it is a Mailflow handler; else FunctionRefused."""
        spec = self.function(name_or_arn)
        check_identity(spec.name, spec.handler, spec.tags)
        return spec

    def code_dir(self, spec: FunctionSpec) -> Path:
        """The unpacked zip of this code version, fetched and verified once per CodeSha256."""
        digest = base64.b64decode(spec.code_sha256).hex()
        target = self._cache_dir / digest
        if not target.is_dir():
            files = self._shipped.verified_files(spec.name, self._fetch(spec.name))
            partial = private_dir(target.with_name(target.name + f".{uuid.uuid4().hex}.tmp"))
            for name, data in files.items():
                path = partial / name
                private_dir(path.parent)
                write_private(path, data)
            try:
                partial.rename(target)
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
                if not target.is_dir():
                    raise
        return target

    def environment(self, spec: FunctionSpec, code_dir: Path) -> dict[str, str]:
        """What a worker starts with: nothing of this user's HOME, AWS configuration or credentials."""
        ignored = sorted(name for name in spec.environment if name.startswith(_IGNORED_FUNCTION_VARIABLES))
        if ignored:
            log.warning(
                "%s: environment variables not passed to the function: %s", spec.name, ", ".join(ignored)
            )
        home = self._scratch / "home"
        tmp = self._scratch / "tmp"
        for directory in (home, tmp):
            private_dir(directory)
        env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        env.update({name: value for name, value in spec.environment.items() if name not in ignored})
        env.update(
            {
                "HOME": str(home),
                "TMPDIR": str(tmp),
                "PYTHONPATH": os.pathsep.join([str(code_dir), *_cli_path()]),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": spec.handler,
                "AWS_ENDPOINT_URL": self._endpoint,
                "AWS_ACCESS_KEY_ID": self._credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": self._credentials.secret_key,
                "AWS_REGION": self._region,
                "AWS_DEFAULT_REGION": self._region,
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_EXECUTION_ENV": "AWS_Lambda_python_mailflow_local",
            }
        )
        return env

    def _checkout(self, spec: FunctionSpec) -> Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Lambda runner is shut down")
            idle = self._idle.get(spec.key, [])
            while idle:
                worker = idle.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.close()
        code_dir = self.code_dir(spec)
        worker = Worker(spec, code_dir, self.environment(spec, code_dir))
        with self._lock:
            self._busy.add(worker)
        return worker

    def _checkin(self, spec: FunctionSpec, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if worker.alive() and not self._closed:
                self._idle.setdefault(spec.key, []).append(worker)
                return
        worker.close()

    def invoke(self, function: str, event: Any) -> InvokeResult:
        request_id = str(uuid.uuid4())
        try:
            spec = self.trusted_function(function)
            return self._run(spec, event, request_id)
        except FunctionRefused as refused:
            log.error("refused to run %s", refused)
            return InvokeResult(
                request_id=request_id,
                error={
                    "errorType": REFUSED_ERROR_TYPE,
                    "errorMessage": f"mailflow local emulator: {refused}",
                },
            )

    def _run(self, spec: FunctionSpec, event: Any, request_id: str) -> InvokeResult:
        stream = log_stream_name(request_id)
        start_ms = _now_ms()
        worker = self._checkout(spec)
        try:
            with self._fault_watch(spec, worker, request_id):
                result = worker.invoke(spec, event, request_id, stream)
        finally:
            self._checkin(spec, worker)
        if result.error is not None and result.error.get("errorType") in (TIMED_OUT, EXITED):
            result.settle_seconds = max(
                0.0, spec.timeout_seconds + SETTLE_MARGIN_SECONDS - result.duration_ms / 1000
            )
        self._write_logs(spec, result, start_ms)
        if result.error is not None:
            log.warning(
                "%s %s failed: %s: %s",
                spec.name,
                request_id,
                result.error.get("errorType"),
                result.error.get("errorMessage"),
            )
        return result

    def _fault_watch(
        self, spec: FunctionSpec, worker: Worker, request_id: str
    ) -> contextlib.AbstractContextManager[None]:
        drawn = self._faults.draw() if self._faults is not None else None
        if self._faults is None or drawn is None:
            return contextlib.nullcontext()

        def trigger(call: Call) -> None:
            log.warning(
                "fault: %s of %s %s after write %d (%s %s)",
                drawn.fault.effect,
                spec.name,
                request_id,
                drawn.fault.write,
                call.service,
                call.operation,
            )
            worker.inject(drawn.fault.effect)

        return self._faults.watching(worker.token, drawn, trigger)

    def _write_logs(self, spec: FunctionSpec, result: InvokeResult, start_ms: int) -> None:
        rid = result.request_id
        end_ms = _now_ms()
        lines = [(start_ms, f"START RequestId: {rid} Version: $LATEST"), *result.logs]
        lines.append((end_ms, f"END RequestId: {rid}"))
        lines.append(
            (
                end_ms,
                f"REPORT RequestId: {rid}\tDuration: {result.duration_ms:.2f} ms\t"
                f"Billed Duration: {int(result.duration_ms) + 1} ms\tMemory Size: {spec.memory_mb} MB",
            )
        )
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_group(logGroupName=spec.log_group)
        self._logs.create_log_stream(logGroupName=spec.log_group, logStreamName=result.log_stream)
        events = [{"timestamp": ts, "message": text} for ts, text in lines if text]
        events.sort(key=lambda item: int(item["timestamp"]))  # type: ignore[call-overload]
        self._logs.put_log_events(
            logGroupName=spec.log_group, logStreamName=result.log_stream, logEvents=events
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for pool in self._idle.values() for w in pool] + list(self._busy)
            self._idle.clear()
        for worker in workers:
            worker.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
