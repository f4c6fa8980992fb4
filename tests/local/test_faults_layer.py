"""The fault layer on the wire: requests that botocore's own serializers build are recognised (service,
operation, the resources they name), errors are answered in the request's protocol and botocore's own
parsers read back the code and message, states change JSON answers, and other requests pass untouched."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import botocore.loaders
import botocore.session
import pytest
from botocore import serialize
from botocore.awsrequest import prepare_request_dict
from botocore.parsers import create_parser

from mailflow_cli.local.faults import FaultEngine, FaultLayer, identify, parse_rules
from mailflow_cli.local.faults.responses import error_response, replace_fields
from mailflow_cli.local.guard import Environ

SESSION = botocore.session.Session()
SESSION.register_component("data_loader", botocore.loaders.Loader())  # models no client of ours rewrites
KEY = "AKIDFAULTS"


def example(shape: Any, depth: int = 0) -> Any:
    """A value for every required member: enough for the serializer to address the request."""
    kind = shape.type_name
    if kind == "structure":
        return {name: example(shape.members[name], depth + 1) for name in shape.required_members}
    if kind == "list":
        return [example(shape.member, depth + 1)] if depth < 3 else []
    if kind == "map":
        return {}
    return {
        "integer": 1,
        "long": 1,
        "float": 1.0,
        "double": 1.0,
        "boolean": True,
        "blob": b"x",
        "timestamp": 0,
    }.get(kind, shape.enum[0] if getattr(shape, "enum", None) else "x")


def environ_for(
    service: str, operation: str, params: dict[str, Any] | None = None, protocol: str = ""
) -> Environ:
    """The WSGI environ of the request botocore sends for ``operation`` (signed with KEY)."""
    model = SESSION.get_service_model(service)
    operation_model = model.operation_model(operation)
    if params is None:
        params = example(operation_model.input_shape) if operation_model.input_shape else {}
    serializer = serialize.create_serializer(protocol or model.resolved_protocol, include_validation=False)
    request = serializer.serialize_to_request(params, operation_model)
    prepare_request_dict(request, endpoint_url="http://127.0.0.1:4566")
    url = urlsplit(request["url"])
    body = request["body"]
    if isinstance(body, dict):
        body = urlencode(body, doseq=True).encode()
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read() if body else b""
    environ: Environ = {
        "REQUEST_METHOD": request["method"],
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={KEY}/20260101/eu-west-1/{model.signing_name}/"
        "aws4_request, SignedHeaders=host, Signature=0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in request["headers"].items():
        key = "CONTENT_TYPE" if name.lower() == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = value if isinstance(value, str) else value.decode()
    if "CONTENT_TYPE" not in environ and isinstance(request["body"], dict):
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded; charset=utf-8"
    return environ


# Addressed identically by AWS (same method, path and query): the deprecated operation and its successor,
# and S3 Express's ListDirectoryBuckets (which goes to another endpoint).
SAME_ADDRESS = {
    ("s3", "GetBucketLifecycle"),
    ("s3", "PutBucketLifecycle"),
    ("s3", "GetBucketNotification"),
    ("s3", "PutBucketNotification"),
    ("s3", "ListDirectoryBuckets"),
}
SERVICES = ("lambda", "s3", "sqs", "iam", "ses", "sesv2", "dynamodb", "logs", "sns", "sts", "cloudwatch")


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_botocore_sends_is_recognised(service: str) -> None:
    model = SESSION.get_service_model(service)
    wrong = {}
    for operation in model.operation_names:
        found = identify(environ_for(service, operation), [service, "ses", "sesv2"])
        if (found.operation if found else None) != operation and (service, operation) not in SAME_ADDRESS:
            wrong[operation] = found.operation if found else None
    assert wrong == {}


def test_s3_calls_are_recognised_after_a_client_rewrote_a_shared_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore's S3 clients strip `/{Bucket}` from the request URIs of the models their loader holds, for
    the loader's lifetime; the fault layer reads S3's path-style requests with models of its own."""
    from botocore.stub import Stubber

    from mailflow_cli.local.faults import calls, models

    shared = botocore.loaders.create_loader()
    monkeypatch.setattr(botocore.session, "create_loader", lambda search_path_string=None: shared)
    client = botocore.session.Session().create_client(
        "s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_response("put_object", {})
        client.put_object(Bucket="b", Key="k", Body=b"x")
    rewritten = botocore.session.Session().get_service_model("s3").operation_model("PutObject")
    assert rewritten.http["requestUri"] == "/{Key+}"  # what the shared loader now hands out
    for cached in (models._session, models.service_model, calls._routes):
        cached.cache_clear()
    try:
        found = identify(environ_for("s3", "PutObject", {"Bucket": "b", "Key": "k"}), ["s3"])
        assert found is not None
        assert (found.operation, found.parameters["Bucket"], found.parameters["Key"]) == (
            "PutObject",
            "b",
            "k",
        )
    finally:
        for cached in (models._session, models.service_model, calls._routes):
            cached.cache_clear()


def test_cloudwatch_over_cbor_and_sqs_over_query_are_recognised_too() -> None:
    cbor = identify(
        environ_for("cloudwatch", "PutMetricAlarm", protocol="smithy-rpc-v2-cbor"), ["cloudwatch"]
    )
    assert cbor is not None
    assert (cbor.operation, cbor.protocol) == ("PutMetricAlarm", "smithy-rpc-v2-cbor")
    query = identify(environ_for("sqs", "CreateQueue", {"QueueName": "q"}, protocol="query"), ["sqs"])
    assert query is not None
    assert (query.operation, query.protocol, query.names) == ("CreateQueue", "query", frozenset({"q"}))


def test_a_call_names_its_resources_and_keeps_its_parameters() -> None:
    function = identify(
        environ_for(
            "lambda",
            "CreateFunction",
            {
                "FunctionName": "mailflow-dev-handler",
                "Role": "arn:aws:iam::123456789012:role/mailflow-dev-handler",
                "Code": {"ZipFile": b"zip"},
                "Runtime": "python3.12",
                "Tags": {"Name": "not-a-resource"},
            },
        ),
        ["lambda"],
    )
    assert function is not None
    assert function.caller == KEY
    assert function.names == {
        "mailflow-dev-handler",
        "arn:aws:iam::123456789012:role/mailflow-dev-handler",
    }
    rule = identify(
        environ_for(
            "ses",
            "CreateReceiptRule",
            {
                "RuleSetName": "set",
                "Rule": {
                    "Name": "rule",
                    "Actions": [
                        {"S3Action": {"BucketName": "raw-bucket", "ObjectKeyPrefix": "raw/"}},
                        {"LambdaAction": {"FunctionArn": "arn:aws:lambda:eu-west-1:1:function:fn"}},
                    ],
                },
            },
        ),
        ["ses"],
    )
    assert rule is not None
    assert rule.parameters["BucketName"] == "raw-bucket"
    assert rule.parameters["FunctionArn"] == "arn:aws:lambda:eu-west-1:1:function:fn"
    role = identify(
        environ_for(
            "iam",
            "CreateRole",
            {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Tags": [{"Key": "k", "Value": "v"}]},
        ),
        ["iam"],
    )
    assert role is not None
    assert role.names == {"r"}  # tag keys and values name nothing
    queue = identify(environ_for("sqs", "DeleteQueue", {"QueueUrl": "http://h:1/123/mailflow-q"}), ["sqs"])
    assert queue is not None
    assert queue.names == {"http://h:1/123/mailflow-q", "mailflow-q"}


def test_requests_of_other_services_are_not_read() -> None:
    environ = environ_for("sqs", "CreateQueue", {"QueueName": "q"})
    body = environ["wsgi.input"]
    assert identify(environ, ["lambda", "s3"]) is None
    assert environ["wsgi.input"] is body
    assert body.tell() == 0
    assert identify({"PATH_INFO": "/"}, ["sqs"]) is None  # unsigned


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("iam", "query", "NoSuchEntity", 404),
        ("ses", "query", "InvalidLambdaFunction", 400),
        ("sns", "query", "Throttled", 429),
        ("sqs", "json", "AWS.SimpleQueueService.QueueDeletedRecently", 400),
        ("sqs", "json", "RequestThrottled", 403),
        ("dynamodb", "json", "ThrottlingException", 400),
        ("logs", "json", "ThrottlingException", 400),
        ("cloudwatch", "json", "Throttling", 400),
        ("cloudwatch", "smithy-rpc-v2-cbor", "Throttling", 400),
        ("lambda", "rest-json", "ResourceConflictException", 409),
        ("sesv2", "rest-json", "TooManyRequestsException", 429),
        ("s3", "rest-xml", "SlowDown", 503),
        ("s3", "rest-xml", "OperationAborted", 409),
    ],
)
def test_an_error_is_what_botocore_parses_back(service: str, protocol: str, code: str, status: int) -> None:
    message = "Could not write to bucket: <raw> & more"
    answered, headers, body = error_response(service, protocol, code, status, message)
    parsed = create_parser(protocol).parse(
        {"status_code": answered, "headers": {k.lower(): v for k, v in headers}, "body": body}, None
    )
    assert answered == status
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == message


def test_state_fields_replace_parts_of_a_json_answer() -> None:
    body = json.dumps({"Configuration": {"State": "Active", "Timeout": 3}, "Tags": {}}).encode()
    changed = json.loads(replace_fields(body, (("Configuration.State", "Pending"), ("New.Field", "x"))))
    assert changed == {"Configuration": {"State": "Pending", "Timeout": 3}, "Tags": {}, "New": {"Field": "x"}}
    assert replace_fields(b"<xml/>", (("State", "Pending"),)) == b"<xml/>"
    assert replace_fields(b"[1]", (("State", "Pending"),)) == b"[1]"


class Backend:
    """A WSGI application standing in for moto: records what reached it, answers JSON."""

    def __init__(self, status: str = "200 OK") -> None:
        self.status = status
        self.bodies: list[bytes] = []

    def __call__(self, environ: Environ, start_response: Any) -> list[bytes]:
        self.bodies.append(environ["wsgi.input"].read())
        body = json.dumps({"Configuration": {"State": "Active"}}).encode()
        start_response(
            self.status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def serve(layer: FaultLayer, environ: Environ) -> tuple[str, dict[str, str], bytes]:
    answered: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(layer(environ, lambda status, headers, *_: answered.append((status, headers))))
    status, headers = answered[0]
    return status, dict(headers), body


def test_the_layer_answers_an_error_itself_and_passes_the_rest() -> None:
    backend = Backend()
    layer = FaultLayer(
        backend,
        FaultEngine(parse_rules(["sqs:CreateQueue=first:1:AWS.SimpleQueueService.QueueDeletedRecently"])),
    )
    status, headers, body = serve(layer, environ_for("sqs", "CreateQueue", {"QueueName": "q"}))
    assert status == "400 Bad Request"
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.QueueDeletedRecently;Sender"
    assert int(headers["Content-Length"]) == len(body)
    assert backend.bodies == []
    status, _, _ = serve(layer, environ_for("sqs", "CreateQueue", {"QueueName": "q"}))
    assert status == "200 OK"
    assert json.loads(backend.bodies[0]) == {"QueueName": "q"}  # the body it read was put back
    serve(layer, environ_for("lambda", "ListFunctions"))
    assert len(backend.bodies) == 2


def test_the_layer_changes_a_successful_answer_and_opens_windows_on_success() -> None:
    engine = FaultEngine(
        parse_rules(
            [
                "lambda:GetFunction=after-same:lambda:CreateFunction:1x:state:Configuration.State=Pending",
            ]
        )
    )
    layer = FaultLayer(Backend(), engine)
    create = {"FunctionName": "f", "Role": "r", "Code": {}}
    serve(layer, environ_for("lambda", "CreateFunction", create))
    _, headers, body = serve(layer, environ_for("lambda", "GetFunction", {"FunctionName": "f"}))
    assert json.loads(body) == {"Configuration": {"State": "Pending"}}
    assert int(headers["Content-Length"]) == len(body)
    _, _, body = serve(layer, environ_for("lambda", "GetFunction", {"FunctionName": "f"}))
    assert json.loads(body) == {"Configuration": {"State": "Active"}}

    failing = FaultLayer(Backend("500 Internal Server Error"), engine)
    serve(failing, environ_for("lambda", "CreateFunction", create))
    _, _, body = serve(layer, environ_for("lambda", "GetFunction", {"FunctionName": "f"}))
    assert json.loads(body) == {"Configuration": {"State": "Active"}}  # a failed create opens nothing
