"""The Lambda runner: the deployed zip in a warm worker, context and environment, errors, timeouts,
CloudWatch logs, asynchronous invocation's retries and dead-letter queue, and what it refuses to run.

The runner runs only Mailflow's handler as this CLI ships it; here the "shipped" package is a probe
(``SHIPPED``), so the functions below are Mailflow handlers in the runner's eyes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mailflow_cli.local import moto_patches
from mailflow_cli.local.async_invoke import AsyncInvoker, invoke_api
from mailflow_cli.local.faults import Call
from mailflow_cli.local.faults.lambda_faults import LambdaFaults
from mailflow_cli.local.faults.rules import LambdaFault, parse_any
from mailflow_cli.local.lambda_runner import REFUSED_ERROR_TYPE, LambdaRunner
from mailflow_cli.local.state import Credentials
from mailflow_cli.local.trusted_code import ShippedHandler
from mailflow_cli.naming import (
    HANDLER_STRING,
    MANAGED_BY_VALUE,
    TAG_COMPONENT,
    TAG_ENVIRONMENT,
    TAG_MANAGED_BY,
)

from .conftest import create_role, make_zip, queue

PROBE = """
import os, sys, time

if os.environ.get("PROBE_MODE") == "missing":
    import no_such_module

def handler(event, context):
    mode = os.environ.get("PROBE_MODE")
    if mode == "boom":
        raise ValueError("bad input")
    if mode == "slow":
        print("going to sleep")
        time.sleep(60)
    if mode == "hold":  # says who it is, then waits for a fault (or its timeout)
        with open(os.environ["HOLD_FILE"], "w") as hold:
            hold.write(f"{os.environ['AWS_SESSION_TOKEN']} {os.getpid()}")
        time.sleep(60)
    print("hello from the zip")
    print("to stderr", file=sys.stderr)
    return {
        "pid": os.getpid(),
        "function": context.function_name,
        "requestId": context.aws_request_id,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "group": context.log_group_name,
        "stream": context.log_stream_name,
        "greeting": os.environ.get("GREETING"),
        "file": __file__,
        "home": os.path.expanduser("~"),
        "environment": dict(os.environ),
        "event": event,
    }
"""
MARKER_CODE = """
import pathlib, os
pathlib.Path(os.environ["MARKER"]).write_text("ran")
"""
SHIPPED = {"mailflow_handler/__init__.py": PROBE, "mailflow_handler/util.py": "VALUE = 1\n"}
ZIP = make_zip({**SHIPPED, "mailflow_config.json": "{}"})
ENDPOINT = "http://127.0.0.1:1"
CREDENTIALS = Credentials(access_key="MFLOCALTESTKEY", secret_key="test-secret")


def owned(environment: str) -> dict[str, str]:
    return {TAG_MANAGED_BY: MANAGED_BY_VALUE, TAG_ENVIRONMENT: environment, TAG_COMPONENT: "handler"}


@pytest.fixture
def lambda_faults() -> LambdaFaults:
    """The runner's Lambda faults: none until a test sets rules."""
    return LambdaFaults()


@pytest.fixture
def runner(
    aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lambda_faults: LambdaFaults
) -> Iterator[tuple[LambdaRunner, list[str]]]:
    """Functions whose zip is the 'shipped' probe package, so the runner runs them like Mailflow's."""
    role = create_role(aws["iam"])
    _, dlq_arn = queue(aws["sqs"], "fn-dlq")
    monkeypatch.setenv("MARKER", str(tmp_path / "marker"))
    zips = {
        "mailflow-ok-handler": ZIP,
        "mailflow-boom-handler": ZIP,
        "mailflow-slow-handler": ZIP,
        "mailflow-hold-handler": ZIP,
        "mailflow-missing-handler": ZIP,
        "evil": make_zip({"evil.py": MARKER_CODE + "def handler(e, c):\n    return 1\n"}),
        "mailflow-untagged-handler": ZIP,
        "mailflow-edited-handler": make_zip(
            {**SHIPPED, "mailflow_handler/util.py": MARKER_CODE, "mailflow_config.json": "{}"}
        ),
        "mailflow-extra-handler": make_zip(
            {**SHIPPED, "mailflow_config.json": "{}", "sitecustomize.py": MARKER_CODE}
        ),
    }
    for name, code in zips.items():
        environment = name.removeprefix("mailflow-").removesuffix("-handler")
        aws["lambda"].create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="evil.handler" if name == "evil" else HANDLER_STRING,
            Code={"ZipFile": code},
            Timeout={"mailflow-slow-handler": 1, "mailflow-hold-handler": 2}.get(name, 30),
            MemorySize=256,
            Environment={
                "Variables": {
                    "GREETING": "hi",
                    "PROBE_MODE": environment,
                    "HOLD_FILE": str(tmp_path / "hold"),
                }
            },
            DeadLetterConfig={"TargetArn": dlq_arn},
            Tags={} if name == "mailflow-untagged-handler" else owned(environment),
        )
    fetched: list[str] = []

    def fetch(name: str) -> bytes:
        fetched.append(name)
        return zips[name]

    instance = LambdaRunner(
        lambda_client=aws["lambda"],
        logs_client=aws["logs"],
        code_fetcher=fetch,
        cache_dir=tmp_path / "code",
        endpoint=ENDPOINT,
        region="eu-west-1",
        credentials=CREDENTIALS,
        shipped=ShippedHandler({name: text.encode() for name, text in SHIPPED.items()}),
        faults=lambda_faults,
    )
    yield instance, fetched
    instance.close()


def log_messages(logs: Any, group: str, stream: str) -> list[str]:
    return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]]


def test_runs_the_deployed_zip_with_context_and_environment(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any], tmp_path: Path
) -> None:
    instance, fetched = runner
    result = instance.invoke("mailflow-ok-handler", {"x": 1})
    assert result.error is None
    payload = result.payload
    assert payload["event"] == {"x": 1}
    assert payload["function"] == "mailflow-ok-handler"
    assert payload["requestId"] == result.request_id
    assert payload["memory"] == "256"
    assert 0 < payload["remaining"] <= 30_000
    assert payload["arn"].endswith(":function:mailflow-ok-handler")
    assert payload["group"] == "/aws/lambda/mailflow-ok-handler"
    assert payload["greeting"] == "hi"
    assert payload["environment"]["AWS_ENDPOINT_URL"] == ENDPOINT
    assert payload["environment"]["AWS_REGION"] == "eu-west-1"
    assert Path(payload["file"]).is_relative_to(tmp_path / "code")

    again = instance.invoke("mailflow-ok-handler", {"x": 2})
    assert again.payload["pid"] == payload["pid"], "a warm worker serves the next invocation"
    assert fetched == ["mailflow-ok-handler"], "the zip is fetched once per CodeSha256"

    messages = log_messages(aws["logs"], "/aws/lambda/mailflow-ok-handler", payload["stream"])
    assert messages[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert "hello from the zip" in messages
    assert "to stderr" in messages
    assert messages[-2] == f"END RequestId: {result.request_id}"
    assert messages[-1].startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    streams = aws["logs"].describe_log_streams(logGroupName="/aws/lambda/mailflow-ok-handler")["logStreams"]
    assert len(streams) == 2
    assert all("/[$LATEST]" in s["logStreamName"] for s in streams)


def test_function_error_is_reported_and_logged(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    result = instance.invoke("mailflow-boom-handler", {})
    assert result.failed
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad input"
    messages = log_messages(aws["logs"], "/aws/lambda/mailflow-boom-handler", result.log_stream)
    assert "[ERROR] ValueError: bad input" in messages
    assert any("Traceback" in m for m in messages)


def test_timeout_kills_the_worker(runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]) -> None:
    instance, _ = runner
    result = instance.invoke("mailflow-slow-handler", {})
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    messages = log_messages(aws["logs"], "/aws/lambda/mailflow-slow-handler", result.log_stream)
    assert "going to sleep" in messages
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in messages)
    assert not instance._idle.get(instance.function("mailflow-slow-handler").key), (
        "a timed-out worker is not reused"
    )


def test_async_invocation_retries_twice_then_uses_the_dead_letter_queue(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    invoker = AsyncInvoker(instance, aws["sqs"], retry_delays=(0.0, 0.0))
    try:
        result = invoker.submit("mailflow-boom-handler", {"Records": [{"eventSource": "aws:ses"}]}).result(
            timeout=60
        )
    finally:
        invoker.close()
    assert result is not None
    assert result.failed
    streams = aws["logs"].describe_log_streams(logGroupName="/aws/lambda/mailflow-boom-handler")["logStreams"]
    assert len(streams) == 3, "one attempt and two retries"
    dlq = aws["sqs"].get_queue_url(QueueName="fn-dlq")["QueueUrl"]
    messages = aws["sqs"].receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"]) == {"Records": [{"eventSource": "aws:ses"}]}
    assert messages[0]["MessageAttributes"]["ErrorMessage"]["StringValue"] == "bad input"


def test_async_success_does_not_touch_the_dead_letter_queue(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    invoker = AsyncInvoker(instance, aws["sqs"], retry_delays=(0.0, 0.0))
    try:
        result = invoker.submit("mailflow-ok-handler", {"a": 1}).result(timeout=60)
    finally:
        invoker.close()
    assert result is not None
    assert not result.failed
    dlq = aws["sqs"].get_queue_url(QueueName="fn-dlq")["QueueUrl"]
    assert aws["sqs"].receive_message(QueueUrl=dlq).get("Messages", []) == []


def test_a_handler_that_cannot_be_imported_fails_every_invocation(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    result = instance.invoke("mailflow-missing-handler", {})
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in result.error["errorMessage"]
    messages = log_messages(aws["logs"], "/aws/lambda/mailflow-missing-handler", result.log_stream)
    assert any("ModuleNotFoundError" in m for m in messages)


def test_the_worker_gets_a_scratch_home_and_only_the_emulators_credentials(
    runner: tuple[LambdaRunner, list[str]],
    aws: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Nothing of the user's HOME, AWS profile or credentials reaches the function's code."""
    instance, _ = runner
    for name, value in {
        "HOME": str(tmp_path / "user-home"),
        "AWS_PROFILE": "production",
        "AWS_SESSION_TOKEN": "user-session",
        "AWS_ACCESS_KEY_ID": "AKIAUSERKEY",
        "AWS_SECRET_ACCESS_KEY": "user-secret",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"),
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/creds",
        "TMPDIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    config = aws["lambda"].get_function_configuration(FunctionName="mailflow-ok-handler")
    aws["lambda"].update_function_configuration(
        FunctionName="mailflow-ok-handler",
        Environment={
            "Variables": {
                **config["Environment"]["Variables"],
                "AWS_PROFILE": "production",
                "PYTHONPATH": str(tmp_path / "injected"),
                "LD_PRELOAD": str(tmp_path / "x.so"),
                "HOME": str(tmp_path),
            }
        },
    )
    result = instance.invoke("mailflow-ok-handler", {})
    assert result.error is None, result.error
    environment = result.payload["environment"]
    home = Path(result.payload["home"])
    assert environment["HOME"] == str(home)
    assert not home.is_relative_to(tmp_path)
    assert home.stat().st_mode & 0o777 == 0o700
    assert Path(environment["TMPDIR"]).parent == home.parent
    aws_variables = {name: value for name, value in environment.items() if name.startswith("AWS_")}
    assert aws_variables["AWS_ACCESS_KEY_ID"] == CREDENTIALS.access_key
    assert aws_variables["AWS_SECRET_ACCESS_KEY"] == CREDENTIALS.secret_key
    assert aws_variables["AWS_SESSION_TOKEN"] != "user-session", "the worker's own token"
    assert len(aws_variables["AWS_SESSION_TOKEN"]) >= 40
    assert set(aws_variables) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_EXECUTION_ENV",
    }
    assert "LD_PRELOAD" not in environment
    assert "injected" not in environment["PYTHONPATH"]
    instance.close()
    assert not home.exists(), "the scratch directory is removed when the runner stops"


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("evil", "only Mailflow's handler functions"),
        ("mailflow-untagged-handler", "lacks Mailflow's ownership tags"),
        ("mailflow-edited-handler", "changed mailflow_handler/util.py"),
        ("mailflow-extra-handler", "unknown sitecustomize.py"),
    ],
)
def test_anything_but_mailflows_handler_is_refused_and_never_runs(
    runner: tuple[LambdaRunner, list[str]], tmp_path: Path, function: str, reason: str
) -> None:
    instance, fetched = runner
    result = instance.invoke(function, {})
    assert result.error is not None
    assert result.error["errorType"] == REFUSED_ERROR_TYPE
    assert reason in result.error["errorMessage"]
    assert not (tmp_path / "marker").exists(), "the refused function's code ran"
    assert not any((tmp_path / "code").iterdir()), "nothing of a refused function is unpacked"
    if function in ("evil", "mailflow-untagged-handler"):
        assert fetched == [], "a function with the wrong identity is not even fetched"


def test_a_refused_function_is_not_retried_or_dead_lettered(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, fetched = runner
    invoker = AsyncInvoker(instance, aws["sqs"], retry_delays=(0.0, 0.0))
    try:
        result = invoker.submit("mailflow-edited-handler", {"Records": []}).result(timeout=60)
    finally:
        invoker.close()
    assert result is not None
    assert result.error is not None
    assert result.error["errorType"] == REFUSED_ERROR_TYPE
    assert fetched == ["mailflow-edited-handler"], "one attempt"
    dlq = aws["sqs"].get_queue_url(QueueName="fn-dlq")["QueueUrl"]
    assert aws["sqs"].receive_message(QueueUrl=dlq).get("Messages", []) == []


def test_the_unpacked_code_is_private(runner: tuple[LambdaRunner, list[str]], tmp_path: Path) -> None:
    instance, _ = runner
    previous = os.umask(0o022)
    try:
        assert instance.invoke("mailflow-ok-handler", {}).error is None
    finally:
        os.umask(previous)
    paths = [tmp_path / "code", *(tmp_path / "code").rglob("*")]
    assert len(paths) == 6, paths  # code/, <digest>/, mailflow_handler/, two modules, the config
    for path in paths:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_lambdas_invoke_api_runs_through_the_runner(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any], tmp_path: Path
) -> None:
    """Invoke (and every moto path that runs a function) goes to the runner, never to moto's Docker runner:
    the refused function does not run, the trusted one answers its result, Event answers 202."""
    instance, _ = runner
    invoker = AsyncInvoker(instance, aws["sqs"], retry_delays=(0.0, 0.0))
    undo = moto_patches.route_lambda_invocations(invoke_api(instance, invoker))
    try:
        ok = aws["lambda"].invoke(FunctionName="mailflow-ok-handler", Payload=json.dumps({"x": 1}))
        refused = aws["lambda"].invoke(FunctionName="evil", Payload=b"{}")
        queued = aws["lambda"].invoke(
            FunctionName="mailflow-ok-handler", InvocationType="Event", Payload=b"{}"
        )
        dry = aws["lambda"].invoke(FunctionName="mailflow-ok-handler", InvocationType="DryRun")
        with pytest.raises(aws["lambda"].exceptions.ClientError, match="InvalidRequestContentException"):
            aws["lambda"].invoke(FunctionName="mailflow-ok-handler", Payload=b"{not json")
    finally:
        invoker.close()
        undo()
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read())["event"] == {"x": 1}
    assert refused["FunctionError"] == "Unhandled"
    assert json.loads(refused["Payload"].read())["errorType"] == REFUSED_ERROR_TYPE
    assert not (tmp_path / "marker").exists()
    assert (queued["StatusCode"], dry["StatusCode"]) == (202, 204)


def hold_until_written(hold: Path) -> tuple[str, int]:
    """The session token and pid of the worker that runs the hold function, once it has started."""
    for _ in range(400):
        if hold.exists() and hold.read_text():
            token, pid = hold.read_text().split()
            return token, int(pid)
        time.sleep(0.05)
    raise AssertionError("the hold function did not start")


def process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def stopped(pid: int) -> bool:
    """Whether the process is stopped, once the signal has been delivered (it is asynchronous)."""
    for _ in range(100):
        if process_state(pid) == "T":
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("effect", ["crash", "timeout"])
def test_a_lambda_fault_acts_right_after_the_workers_write(
    runner: tuple[LambdaRunner, list[str]],
    lambda_faults: LambdaFaults,
    aws: dict[str, Any],
    tmp_path: Path,
    effect: str,
) -> None:
    """crash: the worker is killed (Runtime.ExitError, as Lambda words a killed runtime); timeout: it is
    stopped, and the function's timeout ends the invocation. Either way a retry must wait until the
    invocation's deadline has passed (settle_seconds), when a lock it took has expired."""
    instance, _ = runner
    rule = parse_any(f"lambda:{effect}=always")
    assert isinstance(rule, LambdaFault)
    lambda_faults.set_rules([rule], seed=0)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(instance.invoke, "mailflow-hold-handler", {})
        token, pid = hold_until_written(tmp_path / "hold")
        lambda_faults.completed({"HTTP_X_AMZ_SECURITY_TOKEN": token}, Call("sqs", "GetQueueUrl", "json"), 200)
        assert lambda_faults.injected_by_rule() == (0,), "a read is no side effect"
        lambda_faults.completed({"HTTP_X_AMZ_SECURITY_TOKEN": token}, Call("sqs", "SendMessage", "json"), 200)
        if effect == "timeout":
            assert stopped(pid), "stopped until the timeout kills it"
        result = running.result(timeout=30)
    assert lambda_faults.injected_by_rule() == (1,)
    assert result.error is not None
    if effect == "crash":
        assert result.error["errorType"] == "Runtime.ExitError"
        assert result.error["errorMessage"].endswith("Runtime exited with error: signal: killed")
        assert 1.0 < result.settle_seconds <= 3.0, "until 2 s (the function's timeout) + 1 s after it began"
    else:
        assert result.error["errorType"] == "Sandbox.Timedout"
        messages = log_messages(aws["logs"], "/aws/lambda/mailflow-hold-handler", result.log_stream)
        assert any(m.endswith("Task timed out after 2.00 seconds") for m in messages)
        assert 0.0 < result.settle_seconds <= 1.0
    assert not Path(f"/proc/{pid}").exists() or process_state(pid) == "Z"
