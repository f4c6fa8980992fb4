"""Fault rules: the compact text form parses to pure data, prints back to the same text, and a malformed
rule is one clear error naming what is wrong (exit status 2, like any bad argument)."""

from __future__ import annotations

import pytest

from mailflow_cli.errors import ConfigError
from mailflow_cli.local.faults import After, Always, Error, FaultRule, FaultRuleError, First, Rate, State
from mailflow_cli.local.faults import parse_rule as parse
from mailflow_cli.local.faults.rules import INJECTED_MESSAGE, MAX_RULE_LENGTH, LambdaFault, parse_any
from mailflow_cli.local.faults.scenarios import SCENARIOS


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "lambda:CreateFunction=first:3:InvalidParameterValueException",
            FaultRule(
                "lambda",
                "CreateFunction",
                First(3),
                Error("InvalidParameterValueException", 400, INJECTED_MESSAGE),
            ),
        ),
        (
            "sqs:SendMessage=0.2:ServiceUnavailable",
            FaultRule("sqs", "SendMessage", Rate(0.2), Error("ServiceUnavailable", 503, INJECTED_MESSAGE)),
        ),
        (
            "sqs:CreateQueue=after-same:sqs:DeleteQueue:60s:AWS.SimpleQueueService.QueueDeletedRecently",
            FaultRule(
                "sqs",
                "CreateQueue",
                After("sqs", "DeleteQueue", seconds=60, same_resource=True),
                Error("AWS.SimpleQueueService.QueueDeletedRecently", 400, INJECTED_MESSAGE),
            ),
        ),
        (
            "lambda:GetFunction=after:lambda:UpdateFunction*:3x:state:Configuration.LastUpdateStatus=InProgress",
            FaultRule(
                "lambda",
                "GetFunction",
                After("lambda", "UpdateFunction*", calls=3),
                State((("Configuration.LastUpdateStatus", "InProgress"),)),
            ),
        ),
        (
            "s3:*=always:SlowDown;resource=mailflow-*;caller=AKIDFUNCTION;message=Slow: down; please",
            FaultRule(
                "s3",
                "*",
                Always(),
                Error("SlowDown", 503, "Slow: down; please"),
                resource="mailflow-*",
                caller="AKIDFUNCTION",
            ),
        ),
        (
            "iam:CreateRole=0.5:Throttling;status=429",
            FaultRule("iam", "CreateRole", Rate(0.5), Error("Throttling", 429, INJECTED_MESSAGE)),
        ),
    ],
)
def test_the_text_form_is_parsed_and_printed_back(text: str, rule: FaultRule) -> None:
    assert parse(text) == rule
    assert parse(rule.to_text()) == rule
    assert str(rule) == rule.to_text()


def test_the_status_comes_from_the_service_model_when_not_given() -> None:
    """Lambda models TooManyRequestsException as 429, SNS its Throttled as 429; unknown codes are 400."""
    assert parse("lambda:Invoke=always:TooManyRequestsException").effect == Error(
        "TooManyRequestsException", 429, INJECTED_MESSAGE
    )
    assert isinstance(throttled := parse("sns:Publish=always:Throttled").effect, Error)
    assert throttled.status == 429
    assert isinstance(other := parse("sns:Publish=always:SomethingElse").effect, Error)
    assert other.status == 400


def test_every_scenario_rule_prints_to_text_that_parses_back_to_it() -> None:
    rules = [rule for scenario in SCENARIOS.values() for rule in scenario.rules]
    assert rules
    for rule in rules:
        assert parse(rule.to_text()) == rule


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lambda:CreateFunction", "there is no '=' between the call and when it fails"),
        ("lambda=first:1:X", "'lambda' is not <service>:<operation>"),
        (
            "lamda:CreateFunction=first:1:X",
            "'lamda' is not an AWS service botocore knows (did you mean 'lambda'?)",
        ),
        (
            "lambda:CreateFunctoin=first:1:X",
            "lambda has no operation 'CreateFunctoin' (did you mean 'CreateFunction'?)",
        ),
        ("lambda:Create[F]unction=first:1:X", "is not an operation name or a glob"),
        ("lambda:Nothing*=first:1:X", "lambda has no operation 'Nothing*'"),
        ("sqs:SendMessage=0:X", "the share 0 is not between 0 (exclusive) and 1"),
        ("sqs:SendMessage=1.5:X", "the share 1.5 is not between 0 (exclusive) and 1"),
        ("sqs:SendMessage=first:0:X", "first:N needs a whole number N >= 1"),
        ("sqs:SendMessage=first:two:X", "first:N needs a whole number N >= 1"),
        ("sqs:SendMessage=sometimes:X", "'sometimes' is not a 'when'"),
        ("sqs:CreateQueue=after:sqs:DeleteQueue:X", "after needs <service>:<operation>:<window>"),
        ("sqs:CreateQueue=after:sqs:DeleteQueue:60m:X", "the window '60m' is neither seconds (5s) nor"),
        ("sqs:CreateQueue=after:sqs:DeleteQueue:0x:X", "the window '0x' needs a whole number of calls >= 1"),
        ("sqs:CreateQueue=after:sqs:DeleteQueue:0s:X", "the window '0s' must be longer than 0 s"),
        ("sqs:CreateQueue=after:sqs:Nope:5s:X", "sqs has no operation 'Nope'"),
        ("sqs:SendMessage=always:", "the effect is missing after ':'"),
        ("sqs:SendMessage=always:Bad Code", "'Bad Code' is not an error code"),
        ("sqs:SendMessage=always:A:B", "'A:B' is not an error code"),
        ("sqs:SendMessage=always:X;status=200", "the status 200 is not an HTTP error status (400-599)"),
        ("sqs:SendMessage=always:X;status=abc", "the status abc is not an HTTP error status"),
        ("sqs:SendMessage=always:X;colour=red", "'colour=red' is not an option"),
        ("sqs:SendMessage=always:X;resource", "'resource' is not an option"),
        ("sqs:SendMessage=always:X;resource=a;resource=b", "the option resource is given twice"),
        ("sqs:SendMessage=always:X;caller=", "the option caller is empty"),
        (
            "iam:GetRole=always:state:Role.Path=/x/",
            "state: changes JSON answers, and iam does not answer in JSON",
        ),
        ("lambda:GetFunction=always:state:Configuration..State=Pending", "is not <field>=<value>"),
        ("lambda:GetFunction=always:state:State=", "is not <field>=<value>"),
        ("lambda:GetFunction=always:state:State=Pending;message=no", "status= and message= belong to errors"),
        (
            "sqs:SendMessage=always:X;message=" + "m" * MAX_RULE_LENGTH,
            f"longer than {MAX_RULE_LENGTH} characters",
        ),
        ("sqs:SendMessage=always:X;message=fine\x1b[2Jgone", "it holds a control character"),
        ("sqs:SendMessage=always:X;message=line\nbreak", "it holds a control character"),
        ("sqs:SendMessage=always:X;message=\u202eevil", "it holds a control character"),
        ("lambda:crash=0.1\x07", "it holds a control character"),
    ],
)
def test_a_malformed_rule_is_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(FaultRuleError) as refused:
        parse(text)
    assert problem in refused.value.message
    assert refused.value.message.startswith("fault rule '")
    assert refused.value.hint
    assert isinstance(refused.value, ConfigError)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("lambda:crash=0.05", LambdaFault("crash", Rate(0.05))),
        ("lambda:timeout=first:2", LambdaFault("timeout", First(2))),
        ("lambda:crash=always;write=3", LambdaFault("crash", Always(), write=3)),
    ],
)
def test_a_lambda_fault_is_parsed_and_printed_back(text: str, fault: LambdaFault) -> None:
    assert parse_any(text) == fault
    assert fault.to_text() == text
    assert str(fault) == text


def test_without_an_effect_a_call_is_answered_service_unavailable() -> None:
    """The issue's form SERVICE:Operation=RATE[:ErrorCode]: 503 ServiceUnavailable, which SDKs retry."""
    rule = parse_any("sqs:SendMessage=0.2")
    assert rule == FaultRule(
        "sqs", "SendMessage", Rate(0.2), Error("ServiceUnavailable", 503, INJECTED_MESSAGE)
    )
    assert isinstance(parse_any("s3:GetObject=0.1;resource=mailflow-*"), FaultRule)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "lambda:crash=0.2:ServiceUnavailable",
            "a Lambda fault takes no effect after its 'when': 'ServiceUnavailable'",
        ),
        ("lambda:crash=after:sqs:SendMessage:5s", "a Lambda fault happens to a share, the first N or all"),
        ("lambda:timeout=2", "the share 2 is not between 0 (exclusive) and 1"),
        ("lambda:timeout=often", "'often' is not a 'when'"),
        ("lambda:crash=0.1;write=0", "write=N needs a whole number N >= 1"),
        ("lambda:crash=0.1;caller=AKID", "'caller=AKID' is not an option of a Lambda fault (only write=N)"),
        ("lambda:explode=0.1", "lambda has no operation 'explode'"),
    ],
)
def test_a_malformed_lambda_fault_is_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(FaultRuleError) as refused:
        parse_any(text)
    assert problem in refused.value.message
    assert refused.value.message.startswith(f"fault rule {text!r}")
    assert refused.value.exit_code == 2
