from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from operate_helpers import Cli, dead_letter, depth, inbound_message, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.operate import dlq

APPS_DLQ = "mailflow-dev-apps-dlq"
INBOUND_DLQ = "mailflow-dev-inbound-dlq"
OUTBOUND_DLQ = "mailflow-dev-outbound-dlq"
SES_EVENT = {"Records": [{"eventSource": "aws:ses", "ses": {"mail": {"messageId": "abc"}, "receipt": {}}}]}


# The handler's inbound.failure record (docs/schemas/inbound-failure.schema.json), here without sesRecord.
INBOUND_FAILURE = {
    "version": "1.0",
    "type": "inbound.failure",
    "timestamp": "2025-01-01T00:00:00Z",
    "reason": "parse_error",
    "sesMessageId": "m1",
    "s3Bucket": "mailflow-dev-bucket",
    "s3ObjectKey": "raw/m1",
    "error": "no body",
    "targets": ["app1"],
}


def put_lambda_failure(ctx: StackContext) -> None:
    """What Lambda puts on a function's DLQ after failed asynchronous invocations: the event, and why."""
    sqs = ctx.clients.client("sqs")
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=INBOUND_DLQ)["QueueUrl"],
        MessageBody=json.dumps(SES_EVENT),
        MessageAttributes={
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "Task timed out after 60.00 seconds"},
        },
    )


@pytest.fixture
def failures(stack: StackContext) -> StackContext:
    """Messages SQS dead-lettered (their consumers kept failing), and one written to the apps DLQ directly."""
    dead_letter(stack, "mailflow-dev-app-app1", inbound_message("app1", "Never read"))
    dead_letter(stack, "mailflow-dev-app-app1", inbound_message("app1", "Also never read"))
    dead_letter(stack, "mailflow-dev-default", inbound_message("default", "For nobody"))
    put(stack, APPS_DLQ, status_message("corr-1"))
    put(stack, INBOUND_DLQ, INBOUND_FAILURE)
    put_lambda_failure(stack)
    dead_letter(
        stack,
        "mailflow-dev-outbound",
        {"version": "1.0", "correlationId": "c-1", "source": "app2", "email": {}},
    )
    return stack


def test_list_shows_depths_and_reasons(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "list", "--json")
    assert result.exit_code == 0, result.stderr
    by_queue = {entry["queue"]: entry for entry in json.loads(result.stdout)}
    assert by_queue["dlq:apps"]["messages"] == 4
    assert by_queue["dlq:apps"]["reasons"] == {
        "inbound.email app=app1": 2,
        "inbound.email app=default": 1,
        "outbound.status": 1,
    }
    assert by_queue["dlq:inbound"]["reasons"] == {
        "parse_error: no body": 1,
        "Task timed out after 60.00 seconds": 1,
    }
    assert by_queue["dlq:outbound"]["reasons"] == {"outbound.request app=app2": 1}
    assert depth(failures, APPS_DLQ) == (4, 0)


def test_list_as_a_table(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "list")
    assert "2x inbound.email app=app1" in result.stdout
    assert "1x parse_error: no body" in result.stdout
    assert "mailflow dlq redrive QUEUE" in result.stderr


def test_list_of_empty_queues(stack: StackContext, cli: Cli) -> None:
    entries = json.loads(cli("dlq", "list", "--json").stdout)
    assert [entry["messages"] for entry in entries] == [0, 0, 0, 0]


def test_show_prints_messages_without_taking_them(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "show", "inbound")
    assert "Reason   parse_error: no body" in result.stdout
    assert "Reason   Task timed out after 60.00 seconds" in result.stdout
    assert depth(failures, INBOUND_DLQ) == (2, 0)
    documents = [json.loads(line) for line in cli("dlq", "show", "--json", "-n", "1").stdout.splitlines()]
    assert [d["queue"] for d in documents] == ["dlq:apps", "dlq:outbound", "dlq:inbound"]


def test_show_of_empty_queues(stack: StackContext, cli: Cli) -> None:
    result = cli("dlq", "show")
    assert result.exit_code == 0
    assert "No messages in the dead-letter queue(s)." in result.stderr


def test_redrive_copies_apps_messages_back_to_their_source_queue(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "redrive", "apps", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["method"] == "copy"
    assert "StartMessageMoveTask is unavailable" in report["fallbackReason"]
    assert report["moved"] == {"mailflow-dev-app-app1": 2, "mailflow-dev-default": 1}
    assert [entry["why"] for entry in report["left"]] == [
        "SQS did not dead-letter this message (it has no DeadLetterQueueSourceArn: a handler failure record, "
        "or a message sent to the DLQ directly); only messages SQS moved here go back"
    ]
    assert depth(failures, "mailflow-dev-app-app1") == (2, 0)
    assert depth(failures, "mailflow-dev-default") == (1, 0)
    assert depth(failures, APPS_DLQ) == (1, 0)


def test_redrive_outbound_goes_back_to_the_outbound_queue(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "redrive", "dlq:outbound")
    assert "1 message(s) moved to mailflow-dev-outbound" in result.stdout
    assert "copying the messages back instead" in result.stderr
    assert depth(failures, "mailflow-dev-outbound") == (1, 0)
    assert depth(failures, OUTBOUND_DLQ) == (0, 0)


def test_redrive_inbound_leaves_entries_without_a_stored_record(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "redrive", "inbound", "--json")
    report = json.loads(result.stdout)
    assert report["method"] == "reinvoke"
    assert report["moved"] == {}
    assert sorted(entry["sesMessageId"] for entry in report["left"]) == ["abc", "m1"]
    assert all(entry["why"].startswith("no trusted record of this email") for entry in report["left"])
    assert depth(failures, INBOUND_DLQ) == (2, 0)


def test_redrive_uses_the_move_task_where_sqs_has_it(
    failures: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("sqs", region_name="eu-west-1")
    arn = "arn:aws:sqs:eu-west-1:123456789012:mailflow-dev-apps-dlq"
    with Stubber(client) as stubber:
        stubber.add_response("start_message_move_task", {"TaskHandle": "handle-1"}, {"SourceArn": arn})
        assert dlq.start_move_task(client, arn) == ("handle-1", None)
    monkeypatch.setattr(dlq, "single_try_client", lambda ctx, service: client)
    with Stubber(client) as stubber:
        stubber.add_response("start_message_move_task", {"TaskHandle": "handle-2"}, {"SourceArn": arn})
        result = cli("dlq", "redrive", "apps")
    assert "Started an SQS move task for mailflow-dev-apps-dlq (handle handle-2)" in result.stdout
    assert depth(failures, APPS_DLQ) == (4, 0)


def test_redrive_of_an_empty_queue(stack: StackContext, cli: Cli) -> None:
    assert (
        "mailflow-dev-outbound-dlq is empty: nothing to redrive." in cli("dlq", "redrive", "outbound").stdout
    )


def test_purge_needs_confirmation_without_a_terminal(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "purge", "apps")
    assert result.exit_code == 2
    assert "needs confirmation" in result.stderr
    assert depth(failures, APPS_DLQ) == (4, 0)


def test_purge_with_yes(failures: StackContext, cli: Cli) -> None:
    result = cli("dlq", "purge", "inbound", "--yes", "--json")
    assert json.loads(result.stdout) == {"queue": "dlq:inbound", "name": INBOUND_DLQ, "purged": 2}
    assert depth(failures, INBOUND_DLQ) == (0, 0)


def test_a_queue_that_is_not_a_dlq_is_refused(stack: StackContext, cli: Cli) -> None:
    result = cli("dlq", "purge", "app1", "--yes")
    assert result.exit_code == 2
    assert "'app1' is not a dead-letter queue" in result.stderr


def test_missing_stack(ghost: StackContext, cli: Cli) -> None:
    result = cli("dlq", "list")
    assert result.exit_code == 1
    assert "the stack mailflow-ghost is not deployed" in result.stderr


@pytest.mark.parametrize(
    "code", ["AccessDenied", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction"]
)
def test_move_task_not_available_falls_back_to_copying(code: str) -> None:
    client = boto3.client("sqs", region_name="eu-west-1")
    arn = "arn:aws:sqs:eu-west-1:123456789012:mailflow-dev-apps-dlq"
    with Stubber(client) as stubber:
        stubber.add_client_error("start_message_move_task", service_error_code=code, http_status_code=400)
        handle, why = dlq.start_move_task(client, arn)
    assert handle is None
    assert why is not None
    assert code in why


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("RequestThrottled", "Rate exceeded"),
        ("AWS.SimpleQueueService.InvalidParameterValue", "There is already a task running"),
    ],
)
def test_other_move_task_errors_stop_the_redrive(code: str, message: str) -> None:
    from mailflow_cli.errors import MailflowError

    client = boto3.client("sqs", region_name="eu-west-1")
    arn = "arn:aws:sqs:eu-west-1:123456789012:mailflow-dev-apps-dlq"
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_message_move_task", service_error_code=code, service_message=message, http_status_code=400
        )
        with pytest.raises(
            MailflowError, match=f"StartMessageMoveTask failed for mailflow-dev-apps-dlq: {code}"
        ):
            dlq.start_move_task(client, arn)


def test_a_move_task_error_leaves_the_dlq_untouched(
    failures: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("sqs", region_name="eu-west-1")
    monkeypatch.setattr(dlq, "single_try_client", lambda ctx, service: client)
    with Stubber(client) as stubber:
        stubber.add_client_error("start_message_move_task", service_error_code="RequestThrottled")
        result = cli("dlq", "redrive", "apps")
    assert result.exit_code == 1
    assert "StartMessageMoveTask failed" in result.stderr
    assert depth(failures, APPS_DLQ) == (4, 0)


def test_refusing_the_purge_prompt_exits_2_and_changes_nothing(
    failures: StackContext, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(typer, "confirm", lambda *args, **kwargs: False)
    result = cli("dlq", "purge", "apps")
    assert result.exit_code == 2
    assert f"purge cancelled; {APPS_DLQ} was not changed" in result.stderr
    assert depth(failures, APPS_DLQ) == (4, 0)
