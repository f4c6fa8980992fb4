"""`mailflow dlq redrive` trusts nothing in a DLQ body (security review finding 4, contract C2).

The inbound DLQ: an entry only names an email by its SES id; what is replayed is the handler's stored
record (`receipt` of the table item `inbound#<sesId>`, built here in the contract's shape, as the handler
writes it), and only while `raw/<sesId>` exists. The apps and outbound DLQs: a message goes back only to
its DeadLetterQueueSourceArn (set by SQS alone; AWS behaviour, reported by the moto patches too), and only
when that is one of the stack's queues. Every forged or unusable entry stays, with the reason, and
nothing is invoked or sent for it.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from operate_helpers import Cli, CliResult, dead_letter, depth, inbound_message, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.operate import dlq, inbound_replay
from mailflow_cli.operate.stack import resolve_queue

INBOUND_DLQ = "mailflow-dev-inbound-dlq"
APPS_DLQ = "mailflow-dev-apps-dlq"
OUTBOUND_DLQ = "mailflow-dev-outbound-dlq"
FUNCTION = "mailflow-dev-handler"
AwsCalls = list[tuple[str, dict[str, Any]]]

_ids = itertools.count(1)


def fresh_id() -> str:
    """A new SES message id per use: the module's table and bucket outlive each test."""
    return f"0100019a{next(_ids):04d}ses{time.time_ns() % 10**9:09d}"


def ses_record(ses_id: str, *, recipients: tuple[str, ...] = ("_app1@example.com",), verdict: str = "PASS",
               virus: str = "PASS", full: bool = False) -> dict[str, Any]:  # fmt: skip
    """An SES record: as the handler stores it (C2: no headers, commonHeaders only messageId), or, with
    ``full``, as SES invokes the function with it (what a Lambda asynchronous-failure entry holds)."""
    mail: dict[str, Any] = {
        "timestamp": "2026-11-27T20:00:00.000Z",
        "source": "alice@example.org",
        "messageId": ses_id,
        "destination": list(recipients),
        "commonHeaders": {"messageId": "<m1@example.org>"},
    }
    if full:
        mail["headersTruncated"] = False
        mail["headers"] = [{"name": "Subject", "value": "Invoice 42"}]
        mail["commonHeaders"] = {
            **mail["commonHeaders"],
            "subject": "Invoice 42",
            "from": ["alice@example.org"],
        }
    return {
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": mail,
            "receipt": {
                "timestamp": "2026-11-27T20:00:00.000Z",
                "recipients": list(recipients),
                "spamVerdict": {"status": verdict},
                "virusVerdict": {"status": virus},
                "spfVerdict": {"status": verdict},
                "dkimVerdict": {"status": verdict},
                "dmarcVerdict": {"status": verdict},
                "action": {"type": "Lambda", "invocationType": "Event",
                           "functionArn": f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION}"},
            },
        },
    }  # fmt: skip


def remember(
    ctx: StackContext, record: dict[str, Any], *, status: str = "PARTIAL", key: str | None = None
) -> None:
    """The handler's idempotency item of an email, with the stored record (contract C2)."""
    ses_id = record["ses"]["mail"]["messageId"]
    ctx.clients.client("dynamodb").put_item(
        TableName=ctx.names.table,
        Item={
            "id": {"S": key or f"inbound#{ses_id}"},
            "status": {"S": status},
            "expiration": {"N": str(int(time.time()) + 7 * 86400)},
            "data": {"S": json.dumps({"done": [], "sqsMessageIds": {}})},
            "receipt": {"S": json.dumps(record)},
        },
    )  # fmt: skip


def store_raw(ctx: StackContext, ses_id: str) -> None:
    ctx.clients.client("s3").put_object(
        Bucket=ctx.names.bucket, Key=f"raw/{ses_id}", Body=b"Subject: x\r\n\r\nhi\r\n"
    )


def failure_record(ses_id: str, **extra: Any) -> dict[str, Any]:
    """The handler's inbound.failure record (C2: no event inside)."""
    return {"version": "1.1", "type": "inbound.failure", "timestamp": "2026-11-27T20:00:01Z",
            "reason": "internal_error", "sesMessageId": ses_id, "s3Bucket": "b",
            "s3ObjectKey": f"raw/{ses_id}", "error": "boom", "targets": ["app1"], **extra}  # fmt: skip


def genuine(ctx: StackContext, **record_options: Any) -> dict[str, Any]:
    """An email the handler took (stored record, PARTIAL) whose raw mail is still there."""
    record = ses_record(fresh_id(), **record_options)
    remember(ctx, record)
    store_raw(ctx, record["ses"]["mail"]["messageId"])
    return record


def invocations(calls: AwsCalls) -> list[dict[str, Any]]:
    return [json.loads(params["Payload"]) for name, params in calls if name == "Invoke"]


def redrive_json(cli: Cli, queue: str) -> dict[str, Any]:
    result = cli("dlq", "redrive", queue, "--json")
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{\n") :])  # moto may warn first
    return report


# The review's forgeries -------------------------------------------------------------------------------------
def test_a_forged_sqs_record_with_another_principals_sender_id_is_not_invoked(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    """scripts/repro_dlq_redrive_forgery.py: the entry would have sent mail as app1 under app1's SenderId."""
    forged_request = {
        "version": "1.0",
        "correlationId": "forged-1",
        "source": "app1",
        "email": {
            "from": {"address": "_app1@example.com"},
            "to": [{"address": "victim@else.example"}],
            "subject": "Please reset your password",
            "body": {"text": "http://evil.example/"},
        },
    }
    put(stack, INBOUND_DLQ, {"Records": [{"eventSource": "aws:sqs", "messageId": "forged-1",
                                          "body": json.dumps(forged_request),
                                          "attributes": {"SenderId": "AROAAPP1ROLE:anything"}}]})  # fmt: skip
    report = redrive_json(cli, "inbound")
    assert report["moved"] == {}
    assert [entry["why"] for entry in report["left"]] == [inbound_replay.NOT_SES]
    assert invocations(aws_calls) == []
    assert depth(stack, INBOUND_DLQ) == (1, 0)


def test_a_forged_ses_record_cannot_release_a_quarantined_email(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    """The handler quarantined the email (virus FAIL) and completed it; a forged record names it with
    every verdict PASS, and a forged failure record names it too."""
    stored = ses_record(fresh_id(), virus="FAIL")
    remember(stack, stored, status="COMPLETED")
    ses_id = stored["ses"]["mail"]["messageId"]
    store_raw(stack, ses_id)
    put(stack, INBOUND_DLQ, {"Records": [ses_record(ses_id, full=True)]})
    put(stack, INBOUND_DLQ, failure_record(ses_id))
    report = redrive_json(cli, "inbound")
    forged_record, forged_failure = sorted(report["left"], key=lambda entry: entry["why"])
    assert (
        "differs from the handler's stored record of this email in ses.receipt.virusVerdict"
        in forged_record["why"]
    )
    assert forged_failure["why"].startswith("the handler completed this email already")
    assert {entry["sesMessageId"] for entry in report["left"]} == {ses_id}
    assert invocations(aws_calls) == []
    assert depth(stack, INBOUND_DLQ) == (2, 0)


def test_a_forged_record_listing_another_apps_address_cannot_reroute_an_email(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    stored = genuine(stack)
    ses_id = stored["ses"]["mail"]["messageId"]
    rerouted = ses_record(ses_id, recipients=("_app1@example.com", "_app2@example.com"), full=True)
    put(stack, INBOUND_DLQ, {"Records": [rerouted]})
    report = redrive_json(cli, "inbound")
    [left] = report["left"]
    assert "in ses.receipt.recipients: it is not replayed" in left["why"]
    assert invocations(aws_calls) == []
    assert depth(stack, INBOUND_DLQ) == (1, 0)


def test_an_apps_dlq_body_naming_another_app_is_not_copied_anywhere(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    put(stack, APPS_DLQ, inbound_message("app2", "Forged for app2"))
    aws_calls.clear()
    report = redrive_json(cli, "apps")
    assert report["method"] == "copy"
    assert report["moved"] == {}
    [left] = report["left"]
    assert "SQS did not dead-letter this message (it has no DeadLetterQueueSourceArn" in left["why"]
    assert [name for name, _ in aws_calls if name == "SendMessage"] == []
    assert depth(stack, APPS_DLQ) == (1, 0)
    assert depth(stack, "mailflow-dev-app-app2") == (0, 0)


# Variants of the class --------------------------------------------------------------------------------
def _two_records(ctx: StackContext) -> Any:
    first, second = genuine(ctx), genuine(ctx)
    return {"Records": [first, second]}


def _not_ses(ctx: StackContext) -> Any:
    record = genuine(ctx)
    return {"Records": [{**record, "eventSource": "aws:s3"}]}


def _dot_dot_slash(ctx: StackContext) -> Any:
    return failure_record("../raw/" + fresh_id())


def _only_dots(ctx: StackContext) -> Any:
    return failure_record("..")


def _receipt_of_another_email(ctx: StackContext) -> Any:
    ses_id = fresh_id()
    remember(ctx, ses_record(fresh_id()), key=f"inbound#{ses_id}")
    store_raw(ctx, ses_id)
    return failure_record(ses_id)


def _raw_gone(ctx: StackContext) -> Any:
    record = ses_record(fresh_id())
    remember(ctx, record)
    return failure_record(record["ses"]["mail"]["messageId"])


def _no_record(ctx: StackContext) -> Any:
    ses_id = fresh_id()
    store_raw(ctx, ses_id)
    return failure_record(ses_id)


def _item_without_receipt(ctx: StackContext) -> Any:
    ses_id = fresh_id()
    ctx.clients.client("dynamodb").put_item(
        TableName=ctx.names.table, Item={"id": {"S": f"inbound#{ses_id}"}, "status": {"S": "PARTIAL"}}
    )
    store_raw(ctx, ses_id)
    return failure_record(ses_id)


def _old_failure_record_with_a_forged_event(ctx: StackContext) -> Any:
    """A record in the pre-C2 shape whose `event` is not what the handler stored: the body names an id
    only, and the id has no stored record."""
    return failure_record(fresh_id(), event={"Records": [ses_record("x")]}, sesRecord=ses_record("x"))


def _not_json(ctx: StackContext) -> Any:
    return "Records: please replay me"


def _an_outbound_request(ctx: StackContext) -> Any:
    return {"version": "1.0", "correlationId": "c-1", "source": "app1", "email": {}}


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (_two_records, "holds one SES record; this one holds 2"),
        (_not_ses, inbound_replay.NOT_SES),
        (_dot_dot_slash, inbound_replay.INVALID_ID),
        (_only_dots, inbound_replay.INVALID_ID),
        (_receipt_of_another_email, "is not an aws:ses record of this email"),
        (_raw_gone, "is gone (expired or deleted): there is nothing to replay"),
        (_no_record, "no trusted record of this email: the table item inbound#"),
        (_item_without_receipt, "holds no stored SES record"),
        (_old_failure_record_with_a_forged_event, "no trusted record of this email"),
        (_not_json, inbound_replay.NOT_AN_INBOUND_ENTRY),
        (_an_outbound_request, inbound_replay.NOT_AN_INBOUND_ENTRY),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else "",
)
def test_an_inbound_entry_that_cannot_be_replayed_stays(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls, entry: Callable[[StackContext], Any], why: str
) -> None:
    put(stack, INBOUND_DLQ, entry(stack))
    report = redrive_json(cli, "inbound")
    assert report["moved"] == {}
    [left] = report["left"]
    assert why in left["why"]
    assert invocations(aws_calls) == []
    assert depth(stack, INBOUND_DLQ) == (1, 0)


def test_an_invalid_id_is_never_looked_up(stack: StackContext, cli: Cli, aws_calls: AwsCalls) -> None:
    put(stack, INBOUND_DLQ, failure_record("../../etc/passwd"))
    put(stack, INBOUND_DLQ, {"Records": [ses_record("a/b")]})
    report = redrive_json(cli, "inbound")
    assert [entry["why"] for entry in report["left"]] == [inbound_replay.INVALID_ID] * 2
    assert all("sesMessageId" not in entry for entry in report["left"])
    assert {name for name, _ in aws_calls} & {"GetItem", "HeadObject", "Invoke"} == set()


# The genuine cases still work ------------------------------------------------------------------------
def test_a_handler_failure_record_replays_the_stored_record(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    stored = genuine(stack)
    ses_id = stored["ses"]["mail"]["messageId"]
    put(stack, INBOUND_DLQ, failure_record(ses_id))
    report = redrive_json(cli, "inbound")
    assert report["moved"] == {FUNCTION: 1}
    assert report["left"] == []
    assert invocations(aws_calls) == [{"Records": [stored]}]
    [(_, params)] = [(name, params) for name, params in aws_calls if name == "GetItem"]
    assert params["ConsistentRead"] is True
    assert params["Key"] == {"id": {"S": f"inbound#{ses_id}"}}
    assert depth(stack, INBOUND_DLQ) == (0, 0)


def test_a_lambda_asynchronous_failure_replays_the_stored_record_not_the_entry(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    """Lambda's DLQ entry holds the whole event SES sent; what is replayed is the trimmed stored record."""
    stored = genuine(stack)
    sent_by_ses = ses_record(stored["ses"]["mail"]["messageId"], full=True)
    put(stack, INBOUND_DLQ, {"Records": [sent_by_ses]})
    report = redrive_json(cli, "inbound")
    assert report["moved"] == {FUNCTION: 1}
    assert invocations(aws_calls) == [{"Records": [stored]}]
    assert depth(stack, INBOUND_DLQ) == (0, 0)


def test_a_mixed_dlq_replays_only_the_genuine_entries(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    first, second = genuine(stack), genuine(stack)
    put(stack, INBOUND_DLQ, failure_record(first["ses"]["mail"]["messageId"]))
    put(stack, INBOUND_DLQ, {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
    put(stack, INBOUND_DLQ, {"Records": [ses_record(second["ses"]["mail"]["messageId"], full=True)]})
    put(stack, INBOUND_DLQ, failure_record("no/such id"))
    result: CliResult = cli("dlq", "redrive", "inbound")
    assert "2 message(s) re-invoked mailflow-dev-handler" in result.stdout
    assert result.stdout.count(f"left in {INBOUND_DLQ}: ") == 2
    assert inbound_replay.NOT_SES in result.stdout
    assert inbound_replay.INVALID_ID in result.stdout
    assert sorted(e["Records"][0]["ses"]["mail"]["messageId"] for e in invocations(aws_calls)) == sorted(
        [first["ses"]["mail"]["messageId"], second["ses"]["mail"]["messageId"]]
    )
    assert depth(stack, INBOUND_DLQ) == (2, 0)


def test_an_sqs_dead_lettered_message_goes_back_to_its_source_whatever_its_body_says(
    stack: StackContext, cli: Cli
) -> None:
    dead_letter(stack, "mailflow-dev-app-app1", inbound_message("app2", "Says app2, came from app1"))
    dead_letter(stack, "mailflow-dev-default", inbound_message("app1", "Says app1, came from default"))
    put(stack, APPS_DLQ, status_message("corr-1"))
    report = redrive_json(cli, "apps")
    assert report["moved"] == {"mailflow-dev-app-app1": 1, "mailflow-dev-default": 1}
    assert len(report["left"]) == 1
    assert depth(stack, "mailflow-dev-app-app1") == (1, 0)
    assert depth(stack, "mailflow-dev-app-app2") == (0, 0)
    assert depth(stack, "mailflow-dev-default") == (1, 0)
    assert depth(stack, APPS_DLQ) == (1, 0)


def test_the_outbound_dlq_returns_only_what_sqs_dead_lettered(stack: StackContext, cli: Cli) -> None:
    request = {"version": "1.0", "correlationId": "c-1", "source": "app2", "email": {}}
    dead_letter(stack, "mailflow-dev-outbound", request)
    put(
        stack,
        OUTBOUND_DLQ,
        {"type": "outbound.failure", "reason": "unknown_app", "original": json.dumps(request)},
    )
    put(stack, OUTBOUND_DLQ, request)  # a request written to the DLQ directly
    report = redrive_json(cli, "outbound")
    assert report["moved"] == {"mailflow-dev-outbound": 1}
    assert len(report["left"]) == 2
    assert depth(stack, OUTBOUND_DLQ) == (2, 0)
    assert depth(stack, "mailflow-dev-outbound") == (1, 0)


def test_a_message_from_a_queue_outside_the_stack_stays(stack: StackContext, cli: Cli) -> None:
    """A queue of an app no longer configured (or anyone's queue) that dead-letters into the apps DLQ."""
    sqs = stack.clients.client("sqs")
    policy = {"deadLetterTargetArn": stack.names.queue_arn(APPS_DLQ), "maxReceiveCount": 1}
    url = sqs.create_queue(
        QueueName="mailflow-dev-app-retired", Attributes={"RedrivePolicy": json.dumps(policy)}
    )["QueueUrl"]
    try:
        dead_letter(stack, "mailflow-dev-app-retired", inbound_message("retired", "Old mail"))
        report = redrive_json(cli, "apps")
    finally:
        sqs.delete_queue(QueueUrl=url)
    assert report["moved"] == {}
    [left] = report["left"]
    assert left["why"].startswith(
        "its source queue arn:aws:sqs:eu-west-1:123456789012:mailflow-dev-app-retired is not one of this "
        "stack's queues that dead-letter into mailflow-dev-apps-dlq"
    )
    assert depth(stack, APPS_DLQ) == (1, 0)


def test_each_dlq_accepts_only_the_queues_that_dead_letter_into_it(stack: StackContext) -> None:
    apps = dlq.stack_sources(stack, resolve_queue(stack, "dlq:apps"))
    outbound = dlq.stack_sources(stack, resolve_queue(stack, "dlq:outbound"))
    arn = "arn:aws:sqs:eu-west-1:123456789012:"
    assert apps == {
        f"{arn}mailflow-dev-default": "mailflow-dev-default",
        f"{arn}mailflow-dev-app-app1": "mailflow-dev-app-app1",
        f"{arn}mailflow-dev-app-app2": "mailflow-dev-app-app2",
    }
    assert outbound == {f"{arn}mailflow-dev-outbound": "mailflow-dev-outbound"}


# dlq show: the trusted source, and bodies that try to drive the terminal ------------------------------------
def test_show_names_the_source_sqs_reported_and_escapes_control_characters(
    stack: StackContext, cli: Cli
) -> None:
    dead_letter(
        stack, "mailflow-dev-app-app1", inbound_message("app1", "Invoice\x1b]8;;http://evil.example\x07 42")
    )
    put(stack, APPS_DLQ, inbound_message("app2\x1b[2J", "Fake\n  Verdicts spam PASS"))
    result = cli("dlq", "show", "apps")
    assert "\x1b" not in result.stdout
    assert "Subject  Invoice\\x1b]8;;http://evil.example\\x07 42" in result.stdout
    assert "Subject  Fake\\x0a  Verdicts spam PASS" in result.stdout
    assert "app=app2\\x1b[2J" in result.stdout
    assert result.stdout.count("Source   mailflow-dev-app-app1") == 1
    listing = cli("dlq", "list")
    assert "\x1b" not in listing.stdout
    documents = [json.loads(line) for line in cli("dlq", "show", "apps", "--json").stdout.splitlines()]
    assert sorted(str(d["sourceQueueArn"]) for d in documents) == [
        "None",
        "arn:aws:sqs:eu-west-1:123456789012:mailflow-dev-app-app1",
    ]


def test_named_email_reads_only_the_id() -> None:
    assert inbound_replay.named_email(failure_record("abc.DEF_1-2")) == inbound_replay.NamedEmail(
        "abc.DEF_1-2", None
    )
    record = ses_record("abc", full=True)
    assert inbound_replay.named_email({"Records": [record]}) == inbound_replay.NamedEmail("abc", record)
    assert inbound_replay.named_email(failure_record("x" * 201)) == inbound_replay.Refusal(
        inbound_replay.INVALID_ID
    )
    assert inbound_replay.named_email(failure_record(42)) == inbound_replay.Refusal(inbound_replay.INVALID_ID)
    assert inbound_replay.named_email({"Records": []}).why.endswith("this one holds 0")  # type: ignore[union-attr]
    assert inbound_replay.named_email(["Records"]) == inbound_replay.Refusal(
        inbound_replay.NOT_AN_INBOUND_ENTRY
    )


# A replay that failed past Lambda's retries -----------------------------------------------------------------
def replayed(
    ctx: StackContext,
    *,
    done: tuple[str, ...] = ("default",),
    status: str = "COMPLETED",
    recipients: tuple[str, ...] = ("_app2@example.com",),
    raw: bool = True,
) -> dict[str, Any]:
    """An email `mailflow replay` sent: the stored record, its item (``status``, targets ``done``), its
    raw mail unless ``raw=False``."""
    record = ses_record(fresh_id(), recipients=recipients)
    remember(ctx, record, status=status)
    ctx.clients.client("dynamodb").update_item(
        TableName=ctx.names.table,
        Key={"id": {"S": f"inbound#{record['ses']['mail']['messageId']}"}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"S": json.dumps({"done": list(done), "sqsMessageIds": {}})}},
    )
    if raw:
        store_raw(ctx, record["ses"]["mail"]["messageId"])
    return record


def failed_replay(*emails: tuple[dict[str, Any], list[str]]) -> dict[str, Any]:
    """The entry Lambda writes for a replay event that failed past its retries: the event itself."""
    return {
        "Records": [record for record, _ in emails],
        "mailflowReplay": {"version": 1, "targets": {r["ses"]["mail"]["messageId"]: t for r, t in emails}},
    }


def ids(*records: dict[str, Any]) -> list[str]:
    return [record["ses"]["mail"]["messageId"] for record in records]


def test_a_failed_replay_is_replayed_again_from_the_stored_records(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    """Completed emails may be re-opened (the replay's point); each gets only its targets not yet done."""
    completed = replayed(stack)  # the replay's attempt never reached it
    partial = replayed(stack, done=("app1",), status="PARTIAL", recipients=("_app1@example.com", "_app2@x"))
    put(stack, INBOUND_DLQ, failed_replay((completed, ["app2"]), (partial, ["app1", "app2"])))
    report = redrive_json(cli, "inbound")
    assert (report["moved"], report["left"], report["settled"]) == ({FUNCTION: 1}, [], [])
    assert invocations(aws_calls) == [failed_replay((completed, ["app2"]), (partial, ["app2"]))]
    assert depth(stack, INBOUND_DLQ) == (0, 0)


def test_the_emails_of_a_failed_replay_that_cannot_be_replayed_are_left_with_the_entry(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    good = replayed(stack)
    gone = replayed(stack, raw=False)
    unknown = ses_record(fresh_id(), recipients=("_app2@example.com",))  # no item: no trusted record
    forged = ses_record(ids(replayed(stack))[0], recipients=("_app1@example.com",))
    busy = replayed(stack, status="INPROGRESS")
    invalid = ses_record("../../etc/passwd")
    entry = failed_replay(*((r, ["app2"]) for r in (good, gone, unknown, forged, busy, invalid)))
    put(stack, INBOUND_DLQ, entry)
    report = redrive_json(cli, "inbound")
    assert report["moved"] == {FUNCTION: 1}
    assert invocations(aws_calls) == [failed_replay((good, ["app2"]))]
    left = {entry.get("sesMessageId"): entry["why"] for entry in report["left"]}
    assert list(left) == [*ids(gone, unknown, forged, busy), None]
    assert left[ids(gone)[0]].endswith("is gone (expired or deleted): there is nothing to replay")
    assert left[ids(unknown)[0]].startswith("no trusted record of this email")
    assert (
        "differs from the handler's stored record of this email in ses.receipt.recipients"
        in left[ids(forged)[0]]
    )
    assert left[ids(busy)[0]] == inbound_replay.BUSY
    assert left[None] == inbound_replay.INVALID_ID
    assert {e["messageId"] for e in report["left"]} == {report["left"][0]["messageId"]}  # one entry
    assert depth(stack, INBOUND_DLQ) == (1, 0)  # it stays, for the emails it still names


def test_a_failed_replay_whose_emails_need_nothing_more_is_deleted(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls
) -> None:
    delivered = replayed(stack, done=("app2", "default"))  # the replay's first attempt got this far
    quarantined = replayed(stack, done=("@quarantine",))
    put(stack, INBOUND_DLQ, failed_replay((delivered, ["app2"]), (quarantined, ["app2"])))
    result = cli("dlq", "redrive", "inbound")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert f"(SES message {ids(delivered)[0]}): {inbound_replay.ALL_DONE}" in said
    assert f"(SES message {ids(quarantined)[0]}): {inbound_replay.STAYS_QUARANTINED}" in said
    assert "left in" not in said
    assert invocations(aws_calls) == []
    assert depth(stack, INBOUND_DLQ) == (0, 0)


def _marker_changed(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda entry: {**entry, "mailflowReplay": {**entry["mailflowReplay"], **changes}}


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (_marker_changed(version=2), "mailflowReplay.version must be 1, got 2"),
        (_marker_changed(targets={"someone-else": ["app2"]}), "is not listed in mailflowReplay.targets"),
        (_marker_changed(extra=True), "mailflowReplay must be"),
        (lambda e: {**e, "Records": [*e["Records"], {"eventSource": "aws:sqs"}]}, "is not an aws:ses record"),
        (lambda e: {**e, "mailflowReplay": None}, "mailflowReplay must be"),
    ],
    ids=["version", "id not listed", "extra key", "an sqs record", "null"],
)
def test_a_forged_replay_entry_is_left_and_nothing_is_looked_up(
    stack: StackContext, cli: Cli, aws_calls: AwsCalls, forge: Any, why: str
) -> None:
    put(stack, INBOUND_DLQ, forge(failed_replay((replayed(stack), ["app2"]))))
    setup = len(aws_calls)
    report = redrive_json(cli, "inbound")
    [left] = report["left"]
    assert left["why"].startswith("a replay event the handler would refuse: ")
    assert why in left["why"]
    assert "sesMessageId" not in left
    assert {name for name, _ in aws_calls[setup:]} & {"GetItem", "HeadObject", "Invoke"} == set()
    assert depth(stack, INBOUND_DLQ) == (1, 0)
