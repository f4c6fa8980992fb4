"""The guard in front of the emulator's servers: Host, Origin, Sec-Fetch-Site and the access key, and the
AWS-shaped refusal an SDK can read (botocore's own parsers read it here)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.parsers import create_parser
from werkzeug.test import Client

from mailflow_cli.local.aws_endpoint import MOTO_CONTROL_PATHS, aws_refusal, error_format
from mailflow_cli.local.guard import (
    CROSS_ORIGIN,
    FOREIGN_HOST,
    MISSING_ACCESS_KEY,
    NOT_SERVED,
    WRONG_ACCESS_KEY,
    Environ,
    Guarded,
    LoopbackOrigin,
    Refusal,
    aws_access_key_check,
    presented_access_keys,
    refuse_paths,
)

KEY = "MFLOCALRIGHTKEY"
ORIGIN = LoopbackOrigin(4566)


def signed(key: str = KEY, service: str = "sqs") -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={key}/20260101/eu-west-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:4566", True),
        ("localhost:4566", True),
        ("LOCALHOST:4566", True),
        ("attacker.example:4566", False),
        ("127.0.0.1:4567", False),
        ("127.0.0.1", False),
        ("localhost.attacker.example:4566", False),
        ("", False),
    ],
)
def test_only_the_servers_own_host_is_answered(host: str, allowed: bool) -> None:
    refusal = ORIGIN.check_host({"HTTP_HOST": host} if host else {})
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.kind == FOREIGN_HOST


def test_the_default_port_may_be_left_out_of_host() -> None:
    assert LoopbackOrigin(80).check_host({"HTTP_HOST": "localhost"}) is None
    assert LoopbackOrigin(80).check_host({"HTTP_HOST": "localhost:80"}) is None


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),
        ({"HTTP_ORIGIN": "http://127.0.0.1:4566"}, True),
        ({"HTTP_ORIGIN": "http://localhost:4566"}, True),
        ({"HTTP_SEC_FETCH_SITE": "same-origin"}, True),
        ({"HTTP_SEC_FETCH_SITE": "none"}, True),
        ({"HTTP_ORIGIN": "http://evil.example"}, False),
        ({"HTTP_ORIGIN": "null"}, False),
        ({"HTTP_ORIGIN": "http://localhost:8080"}, False),
        ({"HTTP_ORIGIN": "https://127.0.0.1:4566"}, False),
        ({"HTTP_SEC_FETCH_SITE": "cross-site"}, False),
        ({"HTTP_SEC_FETCH_SITE": "same-site"}, False),
        ({"HTTP_ORIGIN": "http://127.0.0.1:4566", "HTTP_SEC_FETCH_SITE": "cross-site"}, False),
    ],
)
def test_requests_of_web_pages_of_other_origins_are_refused(headers: Environ, allowed: bool) -> None:
    refusal = ORIGIN.check_origin(headers)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.kind == CROSS_ORIGIN


@pytest.mark.parametrize(
    ("environ", "keys"),
    [
        ({}, []),
        ({"HTTP_AUTHORIZATION": signed()}, [KEY]),
        ({"HTTP_AUTHORIZATION": "AWS4-ECDSA-P256-SHA256 Credential=K2/20260101/s3/aws4_request"}, ["K2"]),
        ({"HTTP_AUTHORIZATION": f"AWS {KEY}:c2lnbmF0dXJl"}, [""]),
        ({"HTTP_AUTHORIZATION": "Bearer x"}, [""]),
        ({"QUERY_STRING": f"X-Amz-Credential={KEY}%2F20260101%2Feu-west-1%2Fs3%2Faws4_request"}, [KEY]),
        ({"QUERY_STRING": f"AWSAccessKeyId={KEY}&Signature=x&Expires=1"}, [KEY]),
        (
            {"HTTP_AUTHORIZATION": signed("OTHER"), "QUERY_STRING": f"X-Amz-Credential={KEY}/x"},
            ["OTHER", KEY],
        ),
    ],
)
def test_the_access_keys_a_request_presents(environ: Environ, keys: list[str]) -> None:
    assert presented_access_keys(environ) == keys


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({"HTTP_AUTHORIZATION": signed()}, None),
        ({"QUERY_STRING": f"X-Amz-Credential={KEY}/20260101/eu-west-1/s3/aws4_request"}, None),
        ({}, MISSING_ACCESS_KEY),
        ({"QUERY_STRING": f"AWSAccessKeyId={KEY}&Signature=x"}, None),
        ({"QUERY_STRING": "AWSAccessKeyId=AKIAOTHER&Signature=x"}, WRONG_ACCESS_KEY),
        ({"QUERY_STRING": "X-Amz-Signature=x"}, MISSING_ACCESS_KEY),
        ({"HTTP_AUTHORIZATION": signed("mailflow-local")}, WRONG_ACCESS_KEY),
        ({"HTTP_AUTHORIZATION": signed(KEY + "X")}, WRONG_ACCESS_KEY),
        ({"HTTP_AUTHORIZATION": signed(KEY[:-1])}, WRONG_ACCESS_KEY),
        ({"HTTP_AUTHORIZATION": f"AWS {KEY}:sig"}, WRONG_ACCESS_KEY),
        ({"HTTP_AUTHORIZATION": signed("x"), "QUERY_STRING": f"X-Amz-Credential={KEY}/x"}, WRONG_ACCESS_KEY),
    ],
)
def test_only_sigv4_with_the_emulators_key_passes(environ: Environ, kind: str | None) -> None:
    refusal = aws_access_key_check(KEY)(environ)
    assert (refusal.kind if refusal else None) == kind


def test_the_functions_key_passes_too_and_every_credential_must_be_one_of_the_keys() -> None:
    check = aws_access_key_check(KEY, "MFLOCALFUNCTIONS")
    assert check({"HTTP_AUTHORIZATION": signed("MFLOCALFUNCTIONS")}) is None
    assert check({"HTTP_AUTHORIZATION": signed(KEY)}) is None
    mixed = {"HTTP_AUTHORIZATION": signed("MFLOCALFUNCTIONS"), "QUERY_STRING": "AWSAccessKeyId=AKIAOTHER"}
    refusal = check(mixed)
    assert refusal is not None
    assert refusal.kind == WRONG_ACCESS_KEY
    assert check({"HTTP_AUTHORIZATION": signed("MFLOCALFUNCTION")}) is not None


def test_guarded_answers_a_refused_request_itself() -> None:
    reached: list[str] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        reached.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    def respond(environ: Environ, refusal: Refusal) -> tuple[int, list[tuple[str, str]], bytes]:
        return 403, [("Content-Type", "text/plain")], refusal.kind.encode()

    guarded = Guarded(
        app, (*ORIGIN.checks(), refuse_paths(("/moto-api",), "moto"), aws_access_key_check(KEY)), respond
    )
    client = Client(guarded)
    base = {"base_url": "http://127.0.0.1:4566"}
    ok = client.get("/queue", headers={"Authorization": signed()}, **base)
    assert (ok.status_code, ok.data) == (200, b"app")
    cases = {
        FOREIGN_HOST: client.get(
            "/", headers={"Authorization": signed()}, base_url="http://attacker.example:4566"
        ),
        CROSS_ORIGIN: client.post(
            "/", data="x", headers={"Origin": "http://evil.example", "Authorization": signed()}, **base
        ),
        NOT_SERVED: client.post("/moto-api/reset", headers={"Authorization": signed()}, **base),
        MISSING_ACCESS_KEY: client.get("/queue", **base),
        WRONG_ACCESS_KEY: client.get("/queue", headers={"Authorization": signed("other")}, **base),
    }
    for kind, response in cases.items():
        assert (response.status_code, response.data) == (403, kind.encode()), kind
        assert response.headers["Content-Length"] == str(len(kind))
    assert reached == ["/queue"], "a refused request never reaches the application"


@pytest.mark.parametrize(
    "path", ["/moto-api/data.json", "/moto-api/reset", "/favicon.ico", "/latest/meta-data/"]
)
def test_motos_own_paths_are_refused(path: str) -> None:
    refusal = refuse_paths(MOTO_CONTROL_PATHS, "moto's control API")({"PATH_INFO": path})
    assert refusal is not None
    assert refusal.kind == NOT_SERVED


REFUSAL = Refusal(WRONG_ACCESS_KEY, "the request is signed with another access key than the emulator's")


FORM = "application/x-www-form-urlencoded"
XML_CODE, JSON_CODE = "InvalidClientTokenId", "UnrecognizedClientException"


@pytest.mark.parametrize(
    ("environ", "protocol", "code"),
    [
        ({"CONTENT_TYPE": FORM, "HTTP_AUTHORIZATION": signed(service="ses")}, "query", XML_CODE),
        ({"PATH_INFO": "/bucket", "HTTP_AUTHORIZATION": signed(service="s3")}, "rest-xml", XML_CODE),
        (
            {"HTTP_X_AMZ_TARGET": "AmazonSQS.ListQueues", "CONTENT_TYPE": "application/x-amz-json-1.0"},
            "json",
            JSON_CODE,
        ),
        (
            {"PATH_INFO": "/2015-03-31/functions/", "HTTP_AUTHORIZATION": signed(service="lambda")},
            "rest-json",
            JSON_CODE,
        ),
        (
            {"PATH_INFO": "/v2/email/identities", "HTTP_AUTHORIZATION": signed(service="ses")},
            "rest-json",
            JSON_CODE,
        ),
        (
            {"HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor", "CONTENT_TYPE": "application/cbor"},
            "smithy-rpc-v2-cbor",
            JSON_CODE,
        ),
    ],
)
def test_the_refusal_is_an_error_the_sdk_parses(environ: Environ, protocol: str, code: str) -> None:
    """botocore's parser for the request's protocol reads the code and the message from the 403."""
    status, headers, body = aws_refusal(environ, REFUSAL)
    parsed = create_parser(protocol).parse(
        {"status_code": status, "headers": {k.lower(): v for k, v in headers}, "body": body}, None
    )
    assert status == 403
    assert parsed["Error"]["Code"] == code
    assert REFUSAL.message in parsed["Error"]["Message"]


def test_a_missing_key_and_a_foreign_host_have_their_own_codes() -> None:
    query = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    _, _, body = aws_refusal(query, Refusal(MISSING_ACCESS_KEY, "unsigned"))
    assert b"<Code>MissingAuthenticationToken</Code>" in body
    _, _, body = aws_refusal(query, Refusal(FOREIGN_HOST, "wrong <host>"))
    assert b"<Code>AccessDenied</Code>" in body
    assert b"wrong &lt;host&gt;" in body
    assert error_format({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ListTables"}) == "json"
