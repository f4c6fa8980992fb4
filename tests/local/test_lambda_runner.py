"""The Lambda runner: the deployed zip in a warm worker, context and environment, errors, timeouts,
CloudWatch logs, and asynchronous invocation's retries and dead-letter queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailflow_cli.local.async_invoke import AsyncInvoker
from mailflow_cli.local.lambda_runner import LambdaRunner

from .conftest import create_role, make_zip, queue

CODE = """
import os, sys, time

def ok(event, context):
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
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "region": os.environ.get("AWS_REGION"),
        "file": __file__,
        "event": event,
    }

def boom(event, context):
    raise ValueError("bad input")

def slow(event, context):
    print("going to sleep")
    time.sleep(60)
"""
ZIP = make_zip({"probe_fn.py": CODE})
ENDPOINT = "http://127.0.0.1:1"


@pytest.fixture
def runner(aws: dict[str, Any], tmp_path: Path) -> Iterator[tuple[LambdaRunner, list[str]]]:
    role = create_role(aws["iam"])
    _, dlq_arn = queue(aws["sqs"], "fn-dlq")
    for name, handler, timeout in (
        ("missing-fn", "no_such_module.handler", 30),
        ("ok-fn", "probe_fn.ok", 30),
        ("boom-fn", "probe_fn.boom", 30),
        ("slow-fn", "probe_fn.slow", 1),
    ):
        aws["lambda"].create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": ZIP},
            Timeout=timeout,
            MemorySize=256,
            Environment={"Variables": {"GREETING": "hi"}},
            DeadLetterConfig={"TargetArn": dlq_arn},
        )
    fetched: list[str] = []

    def fetch(name: str) -> bytes:
        fetched.append(name)
        return ZIP

    instance = LambdaRunner(
        lambda_client=aws["lambda"],
        logs_client=aws["logs"],
        code_fetcher=fetch,
        cache_dir=tmp_path / "code",
        endpoint=ENDPOINT,
        region="eu-west-1",
    )
    yield instance, fetched
    instance.close()


def log_messages(logs: Any, group: str, stream: str) -> list[str]:
    return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]]


def test_runs_the_deployed_zip_with_context_and_environment(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any], tmp_path: Path
) -> None:
    instance, fetched = runner
    result = instance.invoke("ok-fn", {"x": 1})
    assert result.error is None
    payload = result.payload
    assert payload["event"] == {"x": 1}
    assert payload["function"] == "ok-fn"
    assert payload["requestId"] == result.request_id
    assert payload["memory"] == "256"
    assert 0 < payload["remaining"] <= 30_000
    assert payload["arn"].endswith(":function:ok-fn")
    assert payload["group"] == "/aws/lambda/ok-fn"
    assert payload["greeting"] == "hi"
    assert payload["endpoint"] == ENDPOINT
    assert payload["region"] == "eu-west-1"
    assert Path(payload["file"]).is_relative_to(tmp_path / "code")

    again = instance.invoke("ok-fn", {"x": 2})
    assert again.payload["pid"] == payload["pid"], "a warm worker serves the next invocation"
    assert fetched == ["ok-fn"], "the zip is fetched once per CodeSha256"

    messages = log_messages(aws["logs"], "/aws/lambda/ok-fn", payload["stream"])
    assert messages[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert "hello from the zip" in messages
    assert "to stderr" in messages
    assert messages[-2] == f"END RequestId: {result.request_id}"
    assert messages[-1].startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    streams = aws["logs"].describe_log_streams(logGroupName="/aws/lambda/ok-fn")["logStreams"]
    assert len(streams) == 2
    assert all("/[$LATEST]" in s["logStreamName"] for s in streams)


def test_function_error_is_reported_and_logged(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    result = instance.invoke("boom-fn", {})
    assert result.failed
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad input"
    messages = log_messages(aws["logs"], "/aws/lambda/boom-fn", result.log_stream)
    assert "[ERROR] ValueError: bad input" in messages
    assert any("Traceback" in m for m in messages)


def test_timeout_kills_the_worker(runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]) -> None:
    instance, _ = runner
    result = instance.invoke("slow-fn", {})
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    messages = log_messages(aws["logs"], "/aws/lambda/slow-fn", result.log_stream)
    assert "going to sleep" in messages
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in messages)
    assert not instance._idle.get(instance.function("slow-fn").key), "a timed-out worker is not reused"


def test_async_invocation_retries_twice_then_uses_the_dead_letter_queue(
    runner: tuple[LambdaRunner, list[str]], aws: dict[str, Any]
) -> None:
    instance, _ = runner
    invoker = AsyncInvoker(instance, aws["sqs"], retry_delays=(0.0, 0.0))
    try:
        result = invoker.submit("boom-fn", {"Records": [{"eventSource": "aws:ses"}]}).result(timeout=60)
    finally:
        invoker.close()
    assert result is not None
    assert result.failed
    streams = aws["logs"].describe_log_streams(logGroupName="/aws/lambda/boom-fn")["logStreams"]
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
        result = invoker.submit("ok-fn", {"a": 1}).result(timeout=60)
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
    result = instance.invoke("missing-fn", {})
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in result.error["errorMessage"]
    messages = log_messages(aws["logs"], "/aws/lambda/missing-fn", result.log_stream)
    assert any("ModuleNotFoundError" in m for m in messages)
