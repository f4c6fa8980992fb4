"""The emulator's fault control: the Python API (rules hit only the functions' calls), and the control
endpoint behind the AWS endpoint's guard, which takes only the emulator's own key, with its client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mailflow_cli.errors import MailflowError
from mailflow_cli.local.aws_endpoint import aws_refusal
from mailflow_cli.local.faults import Call, Error
from mailflow_cli.local.faults.control import MAX_RULES, FaultControl, FaultStatus, RuleStatus
from mailflow_cli.local.faults.endpoint import ControlRouter, FaultsClient
from mailflow_cli.local.faults.rules import FaultRuleError
from mailflow_cli.local.guard import Environ, Guarded, LoopbackOrigin, aws_access_key_check
from mailflow_cli.local.ports import HOST, free_port
from mailflow_cli.local.state import EmulatorState

OWN_KEY = "MFLOCALOWNKEY"
FUNCTIONS_KEY = "MFLOCALFUNCTIONSKEY"


def call(operation: str, caller: str) -> Call:
    return Call("sqs", operation, "json", caller=caller)


def test_rules_hit_only_the_calls_the_functions_make() -> None:
    control = FaultControl(FUNCTIONS_KEY)
    status = control.set(["sqs:SendMessage=always", "lambda:crash=0.5"], seed=4)
    assert status == FaultStatus(
        seed=4,
        rules=(
            RuleStatus("sqs:SendMessage=always:ServiceUnavailable", "aws", 0),
            RuleStatus("lambda:crash=0.5", "lambda", 0),
        ),
    )
    assert control.engine.decide(call("SendMessage", OWN_KEY)) is None, "the CLI's own call goes through"
    assert isinstance(control.engine.decide(call("SendMessage", FUNCTIONS_KEY)), Error)
    assert [rule.to_text() for rule in control.lambda_faults.rules] == ["lambda:crash=0.5"]
    assert control.status().rules[0].injected == 1
    assert control.status().injected == 1
    assert control.clear() == FaultStatus(seed=4, rules=())
    assert control.engine.decide(call("SendMessage", FUNCTIONS_KEY)) is None


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (["sqs:SendMessage=always;caller=AKIDOTHER"], "caller= is implied here"),
        (["sqs:SendMesage=0.1"], "sqs has no operation 'SendMesage'"),
        (["lambda:crash=0.1:Boom"], "a Lambda fault takes no effect"),
        (["sqs:*=0.1"] * (MAX_RULES + 1), f"at most {MAX_RULES} can be set at once"),
    ],
)
def test_a_rule_that_cannot_be_set_changes_nothing(rules: list[str], problem: str) -> None:
    control = FaultControl(FUNCTIONS_KEY)
    control.set(["lambda:timeout=first:1"], seed=1)
    with pytest.raises(FaultRuleError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        control.set(rules, seed=2)
    assert control.status() == FaultStatus(seed=1, rules=(RuleStatus("lambda:timeout=first:1", "lambda", 0),))


class AwsApi:
    """Stands in for moto: answers every request it gets 200."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: Environ, start_response: Any) -> list[bytes]:
        self.paths.append(str(environ.get("PATH_INFO")))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"{}"]


@pytest.fixture
def endpoint() -> Iterator[tuple[EmulatorState, FaultControl, AwsApi]]:
    """The AWS endpoint's application as the emulator assembles it, with a stand-in for moto."""
    from werkzeug.serving import make_server

    port = free_port()
    control = FaultControl(FUNCTIONS_KEY)
    api = AwsApi()
    checks = (*LoopbackOrigin(port).checks(), aws_access_key_check(OWN_KEY, FUNCTIONS_KEY))
    server = make_server(HOST, port, Guarded(ControlRouter(api, control, OWN_KEY), checks, aws_refusal))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state = EmulatorState(
        pid=0,
        endpoint=f"http://{HOST}:{port}",
        smtp_host=HOST,
        smtp_port=0,
        region="eu-west-1",
        started_at=0.0,
        access_key=OWN_KEY,
        secret_key="secret",
    )
    try:
        yield state, control, api
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_sets_shows_and_clears_the_rules(
    endpoint: tuple[EmulatorState, FaultControl, AwsApi],
) -> None:
    state, control, api = endpoint
    client = FaultsClient(state)
    assert client.status() == FaultStatus(seed=0, rules=())
    set_status = client.set(["s3:GetObject=0.1:SlowDown", "lambda:timeout=0.05;write=2"], seed=9)
    assert set_status.to_json() == {
        "seed": 9,
        "rules": [
            {"rule": "s3:GetObject=0.1:SlowDown", "kind": "aws", "injected": 0},
            {"rule": "lambda:timeout=0.05;write=2", "kind": "lambda", "injected": 0},
        ],
        "injected": 0,
    }
    assert control.status() == set_status == client.status()
    assert client.clear().rules == ()
    assert api.paths == [], "the control requests never reach the AWS APIs"


def test_a_malformed_rule_comes_back_as_the_same_error(
    endpoint: tuple[EmulatorState, FaultControl, AwsApi],
) -> None:
    state, control, _ = endpoint
    with pytest.raises(FaultRuleError) as refused:
        FaultsClient(state).set(["dynamodb:PutItem=1.5:ProvisionedThroughputExceededException"])
    assert "the share 1.5 is not between 0 (exclusive) and 1" in refused.value.message
    assert refused.value.exit_code == 2
    assert control.status().rules == ()


def test_the_functions_key_and_other_keys_are_refused(
    endpoint: tuple[EmulatorState, FaultControl, AwsApi],
) -> None:
    """The functions the emulator runs may call AWS APIs with their key, but never change the faults."""
    state, control, api = endpoint
    for key, refusal in (
        (FUNCTIONS_KEY, "takes only the emulator's own access key"),
        ("AKIDOTHER", "refused"),
    ):
        with pytest.raises(MailflowError, match=refusal):
            FaultsClient(EmulatorState(**{**state.__dict__, "access_key": key})).set(["sqs:*=always"])
    assert control.status().rules == ()
    import boto3

    sqs = boto3.client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url=state.endpoint,
        aws_access_key_id=FUNCTIONS_KEY,
        aws_secret_access_key="x",
    )
    sqs.list_queues()
    assert api.paths == ["/"], "the functions' key is good for the AWS APIs"


@pytest.mark.parametrize(
    ("method", "body", "status", "problem"),
    [
        ("PUT", b"not json", 400, "the request body must be"),
        ("PUT", b'{"rules": "sqs:*=always"}', 400, "the request body must be"),
        ("PUT", b'{"rules": [], "seed": true}', 400, "the request body must be"),
        ("PUT", b'{"rules": [], "seed": -1}', 400, "the seed -1 is not between 0"),
        ("PUT", b"", 400, "the request body must be JSON of 1 to 65536 bytes"),
        ("POST", b"{}", 405, "POST is not GET, PUT or DELETE"),
    ],
)
def test_what_the_endpoint_refuses(
    endpoint: tuple[EmulatorState, FaultControl, AwsApi], method: str, body: bytes, status: int, problem: str
) -> None:
    import json
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    state, _, _ = endpoint
    url = f"{state.endpoint}/_mailflow/faults"
    signed = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(OWN_KEY, "secret"), "mailflow", "eu-west-1").add_auth(signed)
    request = urllib.request.Request(
        url, data=body or None, method=method, headers=dict(signed.headers.items())
    )
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=10)
    assert failed.value.code == status
    assert problem in json.loads(failed.value.read())["error"]


def test_an_emulator_without_the_endpoint_is_named(
    endpoint: tuple[EmulatorState, FaultControl, AwsApi],
) -> None:
    state, _, _ = endpoint
    stopped = EmulatorState(**{**state.__dict__, "endpoint": f"http://{HOST}:{free_port()}"})
    with pytest.raises(MailflowError, match="does not answer"):
        FaultsClient(stopped, timeout=2).status()
