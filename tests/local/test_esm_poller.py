"""Event source mapping semantics: batches, batchItemFailures, function errors, redrive to the DLQ."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest

from mailflow_cli.local.esm_poller import EsmSupervisor, Mapping, MappingPoller, failed_ids
from mailflow_cli.local.lambda_runner import InvokeResult
from mailflow_cli.local.trusted_code import FunctionRefused

from .conftest import create_role, make_zip, queue

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("payload", "error", "report", "expected"),
    [
        (None, None, True, set()),
        ({"batchItemFailures": []}, None, True, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, None, True, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, None, False, set()),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None, True, IDS),
        ({"batchItemFailures": [{"nope": "b"}]}, None, True, IDS),
        ({"batchItemFailures": "b"}, None, True, IDS),
        (None, {"errorType": "ValueError"}, True, IDS),
        (None, {"errorType": "ValueError"}, False, IDS),
    ],
)
def test_which_messages_stay(payload: Any, error: Any, report: bool, expected: set[str]) -> None:
    result = InvokeResult(request_id="r", payload=payload, error=error)
    assert failed_ids(result, IDS, report) == expected


class Recorder:
    """Stands in for the Lambda runner: records events, fails the bodies it is told to."""

    def __init__(self, poison: set[str], crash: bool = False) -> None:
        self.poison = poison
        self.crash = crash
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: Any) -> InvokeResult:
        self.events.append(event)
        if self.crash:
            return InvokeResult(request_id="r", error={"errorType": "Boom", "errorMessage": "x"})
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.poison]
        return InvokeResult(request_id="r", payload={"batchItemFailures": failures})


def make_poller(
    aws: dict[str, Any], invoke: Recorder, max_receive: int = 2
) -> tuple[MappingPoller, str, str]:
    _, dlq_arn = queue(aws["sqs"], "work-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    url, arn = queue(aws["sqs"], "work", RedrivePolicy=policy, VisibilityTimeout="300")
    mapping = Mapping(
        uuid="u-1",
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:f",
        queue_arn=arn,
        batch_size=10,
        window_seconds=0,
        report_failures=True,
    )
    poller = MappingPoller(
        mapping, sqs_client=aws["sqs"], invoke=invoke, region="eu-west-1", failure_visibility_seconds=0
    )
    return poller, url, aws["sqs"].get_queue_url(QueueName="work-dlq")["QueueUrl"]


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_sqs_event_shape(aws: dict[str, Any]) -> None:
    invoke = Recorder(set())
    poller, url, _ = make_poller(aws, invoke)
    aws["sqs"].send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}},
    )
    poller.process(poller.collect_batch())
    (record,) = invoke.events[0]["Records"]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == poller.mapping.queue_arn
    assert record["awsRegion"] == "eu-west-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in record["attributes"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "greeting"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["md5OfBody"]
    assert record["receiptHandle"]
    assert depth(aws["sqs"], url) == 0, "a successful batch is deleted"


def test_batch_item_failures_delete_successes_and_redrive_the_poison(aws: dict[str, Any]) -> None:
    invoke = Recorder({"poison"})
    poller, url, dlq = make_poller(aws, invoke, max_receive=2)
    for body in ("one", "poison", "two"):
        aws["sqs"].send_message(QueueUrl=url, MessageBody=body)
    poller.process(poller.collect_batch())
    assert sorted(r["body"] for r in invoke.events[0]["Records"]) == ["one", "poison", "two"]
    assert depth(aws["sqs"], url) == 1, "only the reported failure stays"

    poller.process(poller.collect_batch())
    assert [r["body"] for r in invoke.events[1]["Records"]] == ["poison"]
    assert invoke.events[1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"

    assert poller.collect_batch() == [], "after maxReceiveCount receives the queue moves it on"
    moved = aws["sqs"].receive_message(QueueUrl=dlq).get("Messages", [])
    assert [m["Body"] for m in moved] == ["poison"]


def test_function_error_leaves_the_whole_batch(aws: dict[str, Any]) -> None:
    invoke = Recorder(set(), crash=True)
    poller, url, _ = make_poller(aws, invoke, max_receive=5)
    for body in ("one", "two"):
        aws["sqs"].send_message(QueueUrl=url, MessageBody=body)
    poller.process(poller.collect_batch())
    assert depth(aws["sqs"], url) == 2
    again = poller.collect_batch()
    assert sorted(m["Body"] for m in again) == ["one", "two"]


def test_sending_to_a_mapped_queue_does_not_invoke_moto_lambda(aws: dict[str, Any]) -> None:
    """moto_patches removes moto's synchronous delivery: the message waits for the emulator's poller."""
    role = create_role(aws["iam"])
    aws["lambda"].create_function(
        FunctionName="f",
        Runtime="python3.12",
        Role=role,
        Handler="x.handler",
        Code={"ZipFile": make_zip({"x.py": "def handler(e, c):\n    return None\n"})},
    )
    url, arn = queue(aws["sqs"], "mapped")
    aws["lambda"].create_event_source_mapping(
        FunctionName="f", EventSourceArn=arn, BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    aws["sqs"].send_message(QueueUrl=url, MessageBody="waiting")
    assert depth(aws["sqs"], url) == 1
    assert aws["logs"].describe_log_groups(logGroupNamePrefix="/aws/lambda/f")["logGroups"] == []

    supervisor = EsmSupervisor(
        lambda_client=aws["lambda"],
        sqs_client=aws["sqs"],
        invoke=Recorder(set()),
        trust=lambda function: None,
        region="eu-west-1",
    )
    (mapping,) = supervisor.mappings()
    assert mapping.queue_arn == arn
    assert mapping.batch_size == 5
    assert mapping.report_failures is True


def test_only_mappings_of_trusted_functions_are_polled(aws: dict[str, Any]) -> None:
    """A mapping whose function the runner would refuse is not polled: its queue is left alone."""
    role = create_role(aws["iam"])
    code = {"ZipFile": make_zip({"x.py": "def handler(e, c):\n    return None\n"})}
    for name in ("mailflow-dev-handler", "evil"):
        aws["lambda"].create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="x.handler", Code=code
        )
        _, arn = queue(aws["sqs"], f"q-{name}")
        aws["lambda"].create_event_source_mapping(FunctionName=name, EventSourceArn=arn)

    def trust(function: str) -> None:
        if not function.endswith(":function:mailflow-dev-handler"):
            raise FunctionRefused(function.rsplit(":", 1)[-1], "not Mailflow's handler")

    supervisor = EsmSupervisor(
        lambda_client=aws["lambda"],
        sqs_client=aws["sqs"],
        invoke=Recorder(set()),
        trust=trust,
        region="eu-west-1",
    )
    try:
        supervisor.reconcile()
        supervisor.reconcile()
        polled = [poller.mapping.queue_arn.rsplit(":", 1)[-1] for poller in supervisor._pollers.values()]
    finally:
        supervisor.stop()
    assert polled == ["q-mailflow-dev-handler"]


class SettlingRecorder(Recorder):
    """A function whose worker was killed: the retry must wait until its deadline has passed."""

    def __call__(self, function: str, event: Any) -> InvokeResult:
        self.events.append(event)
        return InvokeResult(request_id="r", error={"errorType": "Runtime.ExitError"}, settle_seconds=2.2)


class VisibilityLog:
    """The SQS client, recording the visibility timeouts the poller sets."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.timeouts: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs["VisibilityTimeout"])
        return self.sqs.change_message_visibility(**kwargs)


def test_after_a_crash_the_batch_is_visible_again_only_once_the_invocation_settled(
    aws: dict[str, Any],
) -> None:
    made, url, _ = make_poller(aws, SettlingRecorder(set()))
    recorded = VisibilityLog(aws["sqs"])
    poller = MappingPoller(
        made.mapping,
        sqs_client=recorded,
        invoke=SettlingRecorder(set()),
        region="eu-west-1",
        failure_visibility_seconds=0,
    )
    for body in ("one", "two"):
        aws["sqs"].send_message(QueueUrl=url, MessageBody=body)
    poller.process(poller.collect_batch())
    assert recorded.timeouts == [3, 3], "failure_visibility_seconds is 0, but the crash settles after 2.2 s"


def test_a_mapping_runs_as_many_batches_at_once_as_its_maximum_concurrency(aws: dict[str, Any]) -> None:
    """Lambda runs several batches of one SQS mapping at once (five to begin with, at most the mapping's
    ScalingConfig.MaximumConcurrency); here two, each waiting for the other to have started."""
    both_running = threading.Barrier(2, timeout=20)

    def invoke(function: str, event: Any) -> InvokeResult:
        both_running.wait()
        return InvokeResult(request_id="r", payload={"batchItemFailures": []})

    made, url, _ = make_poller(aws, Recorder(set()))
    for body in ("one", "two"):
        aws["sqs"].send_message(QueueUrl=url, MessageBody=body)
    mapping = dataclasses.replace(made.mapping, batch_size=1, concurrency=2)
    poller = MappingPoller(
        mapping, sqs_client=aws["sqs"], invoke=invoke, region="eu-west-1", failure_visibility_seconds=0
    )
    poller.start()
    try:
        for _ in range(200):
            if depth(aws["sqs"], url) == 0:
                break
            time.sleep(0.05)
    finally:
        poller.stop()
        poller.join(10)
    assert not both_running.broken, "the two batches ran at the same time"
    assert depth(aws["sqs"], url) == 0


@pytest.mark.parametrize(
    ("scaling", "concurrency"), [({}, 5), ({"MaximumConcurrency": 2}, 2), ({"MaximumConcurrency": 1000}, 5)]
)
def test_the_concurrency_comes_from_the_mappings_scaling_config(
    scaling: dict[str, int], concurrency: int
) -> None:
    item = {"UUID": "u", "FunctionArn": "f", "EventSourceArn": "q", "ScalingConfig": scaling}
    assert Mapping.from_api(item).concurrency == concurrency
