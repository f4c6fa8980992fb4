"""Lambda faults: which invocations a rule picks (seeded, in rule order), and the trigger right after the
picked invocation's Nth successful write call, as the fault layer reports the calls of its worker."""

from __future__ import annotations

from typing import Any

from mailflow_cli.local.faults import Call, FaultEngine, FaultLayer, parse_rules
from mailflow_cli.local.faults.lambda_faults import LambdaFaults, is_write
from mailflow_cli.local.faults.rules import LambdaFault, parse_any

from .test_faults_layer import Backend, environ_for, serve

TOKEN = "worker-token"


def lambda_faults(*texts: str, seed: int = 0) -> LambdaFaults:
    faults = LambdaFaults()
    rules = [parse_any(text) for text in texts]
    faults.set_rules([rule for rule in rules if isinstance(rule, LambdaFault)], seed)
    return faults


def call(operation: str, service: str = "sqs") -> Call:
    return Call(service, operation, "json")


def signed(token: str | None) -> dict[str, Any]:
    return {"HTTP_X_AMZ_SECURITY_TOKEN": token} if token else {}


def test_a_share_is_drawn_per_invocation_from_the_seed() -> None:
    def picks(seed: int) -> list[bool]:
        faults = lambda_faults("lambda:crash=0.3", seed=seed)
        return [faults.draw() is not None for _ in range(400)]

    assert picks(7) == picks(7), "the same seed picks the same invocations"
    assert picks(7) != picks(8)
    assert 80 <= sum(picks(7)) <= 160


def test_rules_are_tried_in_order_and_first_counts_invocations() -> None:
    faults = lambda_faults("lambda:timeout=first:1", "lambda:crash=first:2;write=2")
    drawn = [faults.draw() for _ in range(4)]
    assert [d.fault.to_text() if d else None for d in drawn] == [
        "lambda:timeout=first:1",
        "lambda:crash=first:2;write=2",
        "lambda:crash=first:2;write=2",
        None,
    ], "a rule after the one that fires is not tried (its first:2 counts the invocations it was tried on)"


def test_the_trigger_comes_right_after_the_nth_successful_write_and_only_once() -> None:
    faults = lambda_faults("lambda:crash=always;write=2")
    drawn = faults.draw()
    assert drawn is not None
    triggered: list[str] = []
    with faults.watching(TOKEN, drawn, lambda made: triggered.append(made.operation)):
        assert faults.wants(signed(TOKEN))
        assert not faults.wants(signed("another worker"))
        assert not faults.wants(signed(None))
        faults.completed(signed(TOKEN), call("GetQueueUrl"), 200)  # a read
        faults.completed(signed(TOKEN), call("UpdateItem", "dynamodb"), 200)  # write 1
        faults.completed(signed(TOKEN), call("SendMessage"), 503)  # failed: not a side effect
        faults.completed(signed("another worker"), call("SendMessage"), 200)
        assert triggered == []
        faults.completed(signed(TOKEN), call("PutObject", "s3"), 200)  # write 2
        faults.completed(signed(TOKEN), call("SendMessage"), 200)
    assert triggered == ["PutObject"]
    assert faults.injected_by_rule() == (1,)
    assert not faults.wants(signed(TOKEN)), "the watch ends with the invocation"


def test_an_invocation_with_fewer_writes_is_not_counted() -> None:
    faults = lambda_faults("lambda:timeout=always;write=5")
    drawn = faults.draw()
    assert drawn is not None
    with faults.watching(TOKEN, drawn, lambda made: None):
        faults.completed(signed(TOKEN), call("SendMessage"), 200)
    assert faults.injected_by_rule() == (0,)


def test_reads_are_the_get_list_describe_head_query_scan_receive_calls() -> None:
    assert not any(
        is_write(call(name))
        for name in (
            "GetObject",
            "ListQueues",
            "DescribeTable",
            "HeadObject",
            "Query",
            "Scan",
            "ReceiveMessage",
        )
    )
    assert all(
        is_write(call(name)) for name in ("SendMessage", "UpdateItem", "PutObject", "CopyObject", "SendEmail")
    )


def test_the_fault_layer_reports_a_watched_workers_calls_that_went_through() -> None:
    """The layer tells the observer how each call of a watched worker ended, once the endpoint acted on it;
    a call answered by an AWS fault rule never reached the endpoint, so it is no side effect."""
    faults = lambda_faults("lambda:crash=always")
    engine = FaultEngine(parse_rules(["sqs:SendMessage=first:1:ServiceUnavailable"]))
    backend = Backend()
    layer = FaultLayer(backend, engine, faults)
    drawn = faults.draw()
    assert drawn is not None
    seen: list[int] = []
    with faults.watching(TOKEN, drawn, lambda made: seen.append(len(backend.bodies))):
        send = {"QueueUrl": "http://127.0.0.1/123/q", "MessageBody": "x"}
        status, _, _ = serve(layer, {**environ_for("sqs", "SendMessage", send), **signed(TOKEN)})
        assert status.startswith("503")
        assert seen == []
        serve(layer, {**environ_for("sqs", "SendMessage", send), **signed(TOKEN)})
    assert seen == [1], "triggered once the endpoint had taken the write"
    assert faults.injected_by_rule() == (1,)
