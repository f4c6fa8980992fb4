"""The fault engine: which calls a rule answers (first N, a seeded share, windows in seconds or calls after
another operation, for the same resource or any), in rule order, on a clock the test moves."""

from __future__ import annotations

import threading

from mailflow_cli.local.faults import Call, Error, FaultEngine, parse_rules


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(service: str, operation: str, *names: str, caller: str | None = None, **parameters: str) -> Call:
    return Call(service, operation, "json", parameters, frozenset(names), caller)


def answered(engine: FaultEngine, made: Call) -> str | None:
    """The error code or state the engine answers ``made`` with; a call that goes through succeeds."""
    effect = engine.decide(made)
    if effect is None:
        engine.completed(made, 200)
        return None
    return effect.code if isinstance(effect, Error) else effect.to_text()


def test_first_n_answers_the_first_n_matching_calls_only() -> None:
    engine = FaultEngine(parse_rules(["sqs:CreateQueue=first:2:Boom"]))
    results = [answered(engine, call("sqs", "CreateQueue", "q")) for _ in range(4)]
    assert results == ["Boom", "Boom", None, None]
    assert answered(engine, call("sqs", "DeleteQueue", "q")) is None
    assert [i.rule.to_text() for i in engine.injections()] == ["sqs:CreateQueue=first:2:Boom"] * 2
    assert engine.injected_count == 2


def test_a_share_is_drawn_from_a_generator_seeded_per_rule() -> None:
    def draws(seed: int) -> list[str | None]:
        engine = FaultEngine(parse_rules(["sqs:*=0.3:Throttled"]), seed=seed)
        return [answered(engine, call("sqs", "SendMessage")) for _ in range(400)]

    first, again, other = draws(7), draws(7), draws(8)
    assert first == again
    assert first != other
    assert 80 <= first.count("Throttled") <= 160  # 0.3 of 400, with room for the draw


def test_a_window_in_seconds_after_a_successful_trigger() -> None:
    clock = Clock()
    engine = FaultEngine(parse_rules(["lambda:CreateFunction=after:iam:CreateRole:8s:NotYet"]), clock=clock)
    assert answered(engine, call("lambda", "CreateFunction", "f")) is None  # no CreateRole yet
    engine.completed(call("iam", "CreateRole", "r"), 200)
    clock.now = 7.9
    assert answered(engine, call("lambda", "CreateFunction", "f")) == "NotYet"
    clock.now = 8.0
    assert answered(engine, call("lambda", "CreateFunction", "f")) is None


def test_only_a_successful_trigger_opens_a_window() -> None:
    engine = FaultEngine(parse_rules(["sqs:CreateQueue=after-same:sqs:DeleteQueue:60s:DeletedRecently"]))
    engine.completed(call("sqs", "DeleteQueue", "q"), 403)
    assert answered(engine, call("sqs", "CreateQueue", "q")) is None


def test_after_same_counts_only_calls_naming_a_resource_the_trigger_named() -> None:
    clock = Clock()
    engine = FaultEngine(
        parse_rules(["sqs:CreateQueue=after-same:sqs:DeleteQueue:60s:DeletedRecently"]), clock=clock
    )
    engine.completed(call("sqs", "DeleteQueue", "http://h/1/app1", "app1"), 200)
    assert answered(engine, call("sqs", "CreateQueue", "app2")) is None
    assert answered(engine, call("sqs", "CreateQueue", "app1")) == "DeletedRecently"
    clock.now = 60
    assert answered(engine, call("sqs", "CreateQueue", "app1")) is None


def test_a_window_of_calls_is_renewed_by_each_trigger() -> None:
    engine = FaultEngine(
        parse_rules(
            ["lambda:GetFunction=after-same:lambda:UpdateFunction*:2x:state:Configuration.State=Pending"]
        )
    )
    engine.completed(call("lambda", "UpdateFunctionCode", "f"), 200)
    reads = [answered(engine, call("lambda", "GetFunction", "f")) for _ in range(3)]
    assert reads == ["state:Configuration.State=Pending"] * 2 + [None]
    engine.completed(call("lambda", "UpdateFunctionConfiguration", "f"), 200)
    assert answered(engine, call("lambda", "GetFunction", "g")) is None
    assert answered(engine, call("lambda", "GetFunction", "f")) == "state:Configuration.State=Pending"


def test_resource_and_caller_narrow_a_rule() -> None:
    engine = FaultEngine(parse_rules(["sqs:SendMessage=always:Down;resource=mailflow-*-app-*;caller=AKIDFN"]))
    assert answered(engine, call("sqs", "SendMessage", "mailflow-dev-app-a", caller="AKIDFN")) == "Down"
    assert answered(engine, call("sqs", "SendMessage", "mailflow-dev-app-a", caller="AKIDCLI")) is None
    assert answered(engine, call("sqs", "SendMessage", "mailflow-dev-outbound", caller="AKIDFN")) is None


def test_rules_are_tried_in_order_and_the_first_that_fires_answers() -> None:
    engine = FaultEngine(
        parse_rules(
            [
                "lambda:UpdateFunctionCode=first:1:ResourceConflictException",
                "lambda:UpdateFunction*=always:state:LastUpdateStatus=InProgress",
            ]
        )
    )
    made = call("lambda", "UpdateFunctionCode", "f")
    assert [answered(engine, made) for _ in range(2)] == [
        "ResourceConflictException",
        "state:LastUpdateStatus=InProgress",
    ]


def test_a_message_names_the_calls_parameters() -> None:
    engine = FaultEngine(
        parse_rules(
            ["ses:CreateReceiptRule=always:X;message=Could not write to bucket: {BucketName} {Missing}"]
        )
    )
    effect = engine.decide(call("ses", "CreateReceiptRule", BucketName="raw-mail"))
    assert isinstance(effect, Error)
    assert effect.message == "Could not write to bucket: raw-mail {Missing}"


def test_new_rules_start_afresh() -> None:
    engine = FaultEngine(parse_rules(["sqs:CreateQueue=first:1:Boom"]))
    assert answered(engine, call("sqs", "CreateQueue")) == "Boom"
    engine.set_rules(engine.rules)
    assert answered(engine, call("sqs", "CreateQueue")) == "Boom"
    assert engine.services == frozenset({"sqs"})
    assert FaultEngine(parse_rules(["lambda:CreateFunction=after:iam:CreateRole:1s:X"])).services == {
        "lambda",
        "iam",
    }


def test_concurrent_calls_share_the_counters() -> None:
    engine = FaultEngine(parse_rules(["sqs:SendMessage=first:50:Boom"]))
    results: list[str | None] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(20):
            result = answered(engine, call("sqs", "SendMessage"))
            with lock:
                results.append(result)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("Boom") == 50
