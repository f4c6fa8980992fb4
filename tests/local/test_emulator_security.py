"""The emulator against the attacks of security review finding 1 (a web page, DNS rebinding, another local
client without the key) and finding 16 (file modes), on an emulator started with `mailflow local start`.

What these rely on: AWS rejects a request signed with an unknown access key with 403 and an error code
(InvalidClientTokenId for query and REST-XML services, UnrecognizedClientException for JSON ones);
Lambda runs only the code a function was deployed with. The emulator adds: only Mailflow's handler runs.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import smtplib
import socket
import stat
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from mailflow_cli.aws import AwsClients, AwsTarget
from mailflow_cli.config import parse_config
from mailflow_cli.local.ports import free_port
from mailflow_cli.local.state import EmulatorState, read_state
from mailflow_cli.local.tls import client_context
from mailflow_cli.naming import HANDLER_STRING, stack_names
from mailflow_cli.packaging import build_bundle

from .test_e2e import REPO, mailflow

pytestmark = pytest.mark.e2e

EVIL = "http://evil.example"
OLD_FIXED_KEY = "mailflow-local"
WAIT = 20.0
CLI_SERVICES = {
    "sts": lambda c: c.get_caller_identity(),
    "s3": lambda c: c.list_buckets(),
    "sqs": lambda c: c.list_queues(),
    "lambda": lambda c: c.list_functions(),
    "ses": lambda c: c.list_identities(),
    "iam": lambda c: c.list_roles(),
    "logs": lambda c: c.describe_log_groups(),
    "dynamodb": lambda c: c.list_tables(),
    "cloudwatch": lambda c: c.describe_alarms(),
    "sns": lambda c: c.list_topics(),
    "route53": lambda c: c.list_hosted_zones(),
}
"""One read call per AWS service the CLI and the handler use (grep `client("` in src and handler)."""


@dataclass
class Emulator:
    home: Path
    state: EmulatorState
    started_stdout: str
    outputs: dict[str, Any]
    clients: AwsClients
    marker: Path

    @property
    def local(self) -> Path:
        return self.home / "local"

    @property
    def port(self) -> int:
        return int(self.state.endpoint.rsplit(":", 1)[1])

    def client(self, service: str) -> Any:
        return self.clients.client(service)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """A raw request: exactly these headers (Host included), as a browser or curl would send them."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(
                method, path, body=body, headers={"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            )
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def signed(self, key: str | None = None, service: str = "s3") -> str:
        """An Authorization header with this key id (the emulator checks the key, not the signature)."""
        return (
            f"AWS4-HMAC-SHA256 Credential={key or self.state.access_key}/20260101/eu-west-1/{service}/"
            "aws4_request, SignedHeaders=host, Signature=00"
        )

    def wait_for_log(self, text: str, *, since: int = 0) -> None:
        """Wait until the log, from byte ``since`` on, says ``text``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if text.encode() in (self.local / "emulator.log").read_bytes()[since:]:
                return
            time.sleep(0.1)
        raise AssertionError(f"the emulator's log never said {text!r}")


def modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)) or ".": stat.S_IMODE(path.lstat().st_mode)
        for path in [root, *root.rglob("*")]
    }


def private(root: Path) -> dict[str, int]:
    return {name: 0o700 if (root / name).is_dir() else 0o600 for name in modes(root)}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from mailflow_cli.context import StackContext
    from mailflow_cli.deploy import deploy_stack

    home = tmp_path_factory.mktemp("secure") / "home"
    (home / "local" / "outbox").mkdir(parents=True)
    (home / "local" / "outbox" / "left-by-an-older-version.eml").write_bytes(b"Subject: old\r\n\r\n")
    for path, mode in ((home / "local", 0o755), (home / "local" / "outbox", 0o755)):
        os.chmod(path, mode)
    os.chmod(home / "local" / "outbox" / "left-by-an-older-version.eml", 0o644)
    previous = os.umask(0o022)
    try:
        ports = ("--port", str(free_port()), "--smtp-port", str(free_port()), "--ui-port", str(free_port()))
        started = mailflow(home, "local", "start", *ports, "--region", "eu-west-1")
    finally:
        os.umask(previous)
    state = read_state(home / "local" / "state.json")
    assert started.returncode == 0, started.stderr
    assert state is not None
    try:
        config = parse_config((REPO / "mailflow.yaml.example").read_text(encoding="utf-8"))
        clients = AwsClients(
            AwsTarget(
                config.region,
                endpoint_url=state.endpoint,
                access_key=state.access_key,
                secret_key=state.secret_key,
            )
        )
        ctx = StackContext(
            config=config, config_path=REPO / "mailflow.yaml.example", clients=clients, local=True
        )
        outputs = deploy_stack(ctx, assume_yes=True).to_json()
        clients.client("ses").verify_domain_identity(Domain=config.domains[0])
        yield Emulator(home, state, started.stdout, outputs, clients, home.parent / "marker")
    finally:
        mailflow(home, "local", "stop")


# Finding 1: the review's two scripts, as tests --------------------------------------------------------
def recording(emulator: Emulator, key: str) -> str:
    """repro_emulator_csrf_rce.py's recording: a role, a queue, a function writing the marker, its mapping
    and a message, each request signed with ``key``."""
    endpoint, account = emulator.state.endpoint, "123456789012"
    zip_file = base64.b64encode(marker_zip(emulator)).decode()
    function = {"FunctionName": "evil", "Runtime": "python3.12", "Handler": "evil.handler"}
    function |= {"Role": f"arn:aws:iam::{account}:role/evil", "Code": {"ZipFile": zip_file}}
    mapping = {"EventSourceArn": f"arn:aws:sqs:eu-west-1:{account}:evilq", "FunctionName": "evil"}
    json_10 = "application/x-amz-json-1.0"

    def entry(path: str, service: str, content_type: str, body: str, target: str | None = None) -> str:
        headers = {"Authorization": emulator.signed(key, service), "Content-Type": content_type}
        if target:
            headers["X-Amz-Target"] = target
        return json.dumps({"method": "POST", "url": endpoint + path, "headers": headers, "body": body}) + "\n"

    return "".join(
        (
            entry("/", "iam", "application/x-www-form-urlencoded", "Action=CreateRole&RoleName=evil"),
            entry("/", "sqs", json_10, json.dumps({"QueueName": "evilq"}), "AmazonSQS.CreateQueue"),
            entry("/2015-03-31/functions", "lambda", "application/json", json.dumps(function)),
            entry("/2015-03-31/event-source-mappings/", "lambda", "application/json", json.dumps(mapping)),
            entry(
                "/",
                "sqs",
                json_10,
                json.dumps({"QueueUrl": f"{endpoint}/{account}/evilq", "MessageBody": "go"}),
                "AmazonSQS.SendMessage",
            ),
        )
    )


@pytest.mark.parametrize("key", ["x", "own"])
def test_the_reviews_two_cross_site_posts_are_refused(emulator: Emulator, key: str) -> None:
    """upload-recording + replay-recording as text/plain simple POSTs from a page: refused; nothing made."""
    body = recording(emulator, emulator.state.access_key if key == "own" else key).encode()
    simple = {"Content-Type": "text/plain;charset=UTF-8", "Origin": EVIL}
    for path, data in (
        ("/moto-api/recorder/upload-recording", body),
        ("/moto-api/recorder/replay-recording", b""),
    ):
        status, headers, _ = emulator.request("POST", path, simple, data)
        assert status == 403, path
        assert "access-control-allow-origin" not in headers
        without_origin = emulator.request("POST", path, {"Authorization": emulator.signed()}, data)
        assert without_origin[0] == 403, f"{path} with the key and no Origin"
    functions = [f["FunctionName"] for f in emulator.client("lambda").list_functions()["Functions"]]
    assert functions == [emulator.outputs["lambdaFunctionName"]]
    assert not any(
        url.endswith("/evilq") for url in emulator.client("sqs").list_queues().get("QueueUrls", [])
    )
    assert not (emulator.home.parent / "moto_recording").exists()
    assert not emulator.marker.exists()


def test_motos_state_and_reset_are_refused(emulator: Emulator) -> None:
    """repro_emulator_read_reset.py: data.json (every queued message) and reset, from a page or not."""
    for headers in ({"Origin": EVIL}, {}, {"Authorization": emulator.signed()}):
        status, response_headers, body = emulator.request("GET", "/moto-api/data.json", headers)
        assert status == 403, headers
        assert b"mailflow-dev" not in body
        assert "access-control-allow-origin" not in response_headers
        status, _, _ = emulator.request("POST", "/moto-api/reset", {**headers, "Content-Type": "text/plain"})
        assert status == 403, headers
    assert emulator.request("GET", "/moto-api/", {"Authorization": emulator.signed()})[0] == 403
    queues = emulator.client("sqs").list_queues(QueueNamePrefix="mailflow-dev").get("QueueUrls", [])
    assert queues, "the state survived"


def test_a_page_cannot_list_a_bucket(emulator: Emulator) -> None:
    bucket = emulator.outputs["rawEmailsBucketName"]
    emulator.client("s3").put_object(
        Bucket=bucket, Key="raw/0123456789abcdef", Body=b"Subject: confidential\r\n\r\n"
    )
    path = f"/{bucket}?list-type=2"
    for headers in (
        {"Origin": EVIL},
        {"Origin": EVIL, "Authorization": emulator.signed()},
        {"Sec-Fetch-Site": "cross-site", "Authorization": emulator.signed()},
        {"Origin": f"http://localhost:{emulator.port + 1}", "Authorization": emulator.signed()},
    ):
        status, response_headers, body = emulator.request("GET", path, headers)
        assert status == 403, headers
        assert b"raw/0123456789abcdef" not in body
        assert "access-control-allow-origin" not in response_headers


def test_moto_cors_is_off_for_the_endpoints_own_origin(emulator: Emulator) -> None:
    bucket = emulator.outputs["rawEmailsBucketName"]
    for origin in (None, f"http://127.0.0.1:{emulator.port}", f"http://localhost:{emulator.port}"):
        headers = {"Authorization": emulator.signed(), **({"Origin": origin} if origin else {})}
        status, response_headers, _ = emulator.request("GET", f"/{bucket}?list-type=2", headers)
        assert status == 200, origin
        assert not [name for name in response_headers if name.startswith("access-control-")], origin


def test_dns_rebinding_is_refused(emulator: Emulator) -> None:
    """A page at attacker.example whose name now resolves to 127.0.0.1 sends Host: attacker.example:<port>."""
    bucket = emulator.outputs["rawEmailsBucketName"]
    signed = {"Authorization": emulator.signed()}
    for host in (
        f"attacker.example:{emulator.port}",
        "attacker.example",
        f"127.0.0.1.nip.io:{emulator.port}",
    ):
        status, _, body = emulator.request("GET", f"/{bucket}?list-type=2", {**signed, "Host": host})
        assert status == 403, host
        assert b"raw/" not in body
    for host in (f"127.0.0.1:{emulator.port}", f"localhost:{emulator.port}"):
        assert emulator.request("GET", f"/{bucket}?list-type=2", {**signed, "Host": host})[0] == 200, host


# The access key ---------------------------------------------------------------------------------------------
def client_with(emulator: Emulator, service: str, key: str | None) -> Any:
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 1}}
    if key is None:
        options["signature_version"] = UNSIGNED
    return boto3.Session(aws_access_key_id=key or "unused", aws_secret_access_key="anything").client(
        service, region_name="eu-west-1", endpoint_url=emulator.state.endpoint, config=Config(**options)
    )


@pytest.mark.parametrize("service", sorted(CLI_SERVICES))
@pytest.mark.parametrize("key", [None, OLD_FIXED_KEY, "AKIAIOSFODNN7EXAMPLE"])
def test_a_request_without_the_key_is_refused_as_aws_refuses_it(
    emulator: Emulator, service: str, key: str | None
) -> None:
    with pytest.raises(ClientError) as refused:
        CLI_SERVICES[service](client_with(emulator, service, key))
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    expected = (
        {"MissingAuthenticationToken", "MissingAuthenticationTokenException"}
        if key is None
        else {"InvalidClientTokenId", "UnrecognizedClientException"}
    )
    assert error["Error"]["Code"] in expected
    assert "mailflow local emulator" in error["Error"]["Message"]


@pytest.mark.parametrize("service", sorted(CLI_SERVICES))
def test_the_key_works_for_every_client_the_cli_uses(emulator: Emulator, service: str) -> None:
    response = CLI_SERVICES[service](emulator.client(service))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("signature", [None, "s3v4"])
def test_presigned_urls_carry_the_key(emulator: Emulator, signature: str | None) -> None:
    """botocore presigns S3 URLs with AWSAccessKeyId by default, with X-Amz-Credential under s3v4."""
    bucket = emulator.outputs["rawEmailsBucketName"]
    emulator.client("s3").put_object(Bucket=bucket, Key="outbound/presigned.txt", Body=b"hello")
    params = {"Bucket": bucket, "Key": "outbound/presigned.txt"}
    for key, expected in ((emulator.state.access_key, 200), (OLD_FIXED_KEY, 403)):
        s3 = boto3.Session(aws_access_key_id=key, aws_secret_access_key="x").client(
            "s3", region_name="eu-west-1", endpoint_url=emulator.state.endpoint,
            config=Config(signature_version=signature),
        )  # fmt: skip
        url = s3.generate_presigned_url("get_object", Params=params)
        assert ("X-Amz-Credential=" in url) is (signature == "s3v4")
        status, _, body = emulator.request("GET", url.removeprefix(emulator.state.endpoint))
        assert status == expected, key
        assert (body == b"hello") is (expected == 200)


def test_local_start_prints_the_key_in_its_exports(emulator: Emulator) -> None:
    assert f"AWS_ACCESS_KEY_ID={emulator.state.access_key} " in emulator.started_stdout
    assert f"AWS_SECRET_ACCESS_KEY={emulator.state.secret_key} " in emulator.started_stdout
    assert OLD_FIXED_KEY not in emulator.started_stdout


def test_a_page_cannot_smuggle_smtp_commands_to_the_ingress(emulator: Emulator) -> None:
    """Browsers do not block the SMTP port (2525): a page can POST SMTP commands in a body. The request line
    and headers come first, as unknown commands, and aiosmtpd ends the session before the body."""
    commands = (
        "EHLO x",
        "MAIL FROM:<a@evil.example>",
        "RCPT TO:<_app1@example.com>",
        "DATA",
        "Subject: x",
        "",
        ".",
    )
    smtp = "".join(f"{line}\r\n" for line in commands).encode()
    headers = {"Host": f"127.0.0.1:{emulator.state.smtp_port}", "Content-Type": "text/plain", "Origin": EVIL}
    request = "POST / HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request += f"Content-Length: {len(smtp)}\r\n\r\n"
    with socket.create_connection(
        (emulator.state.smtp_host, emulator.state.smtp_port), timeout=10
    ) as connection:
        connection.sendall(request.encode() + smtp)
        replies = b""
        while chunk := connection.recv(4096):
            replies += chunk
    codes = [line[:3] for line in replies.splitlines()]
    assert codes[-1] == b"502", replies
    assert not {b"250", b"354"} & set(codes), replies


# Only Mailflow's handler runs ------------------------------------------------------------------------------
def marker_zip(emulator: Emulator, files: dict[str, bytes] | None = None) -> bytes:
    payload = f"open({str(emulator.marker)!r}, 'w').write('ran')\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            files or {"evil.py": f"{payload}def handler(event, context):\n    return 1\n".encode()}
        ).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def outbound_request(purpose: str) -> str:
    """app1 asks the handler to send mail to an address outside the emulator (it lands in the outbox)."""
    return json.dumps(
        {
            "version": "1.0",
            "correlationId": f"{purpose}-{uuid.uuid4().hex}",
            "source": "app1",
            "email": {
                "from": {"address": "_app1@example.com"},
                "to": [{"address": "bob@elsewhere.org"}],
                "subject": purpose,
                "body": {"text": "t"},
            },
        }
    )


def deployed_zip(emulator: Emulator) -> bytes:
    config = parse_config((REPO / "mailflow.yaml.example").read_text(encoding="utf-8"))
    return build_bundle(config, stack_names(config, "123456789012")).zip_bytes


def edited_handler_zip(emulator: Emulator) -> bytes:
    """The deployed zip with one line added to the handler package: code that writes the marker."""
    with zipfile.ZipFile(io.BytesIO(deployed_zip(emulator))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["mailflow_handler/__init__.py"] += f"\nopen({str(emulator.marker)!r}, 'w').write('ran')\n".encode()
    return marker_zip(emulator, files)


def test_a_function_of_another_name_is_never_polled_or_invoked(emulator: Emulator) -> None:
    lam, sqs, ses = emulator.client("lambda"), emulator.client("sqs"), emulator.client("ses")
    role = emulator.client("iam").create_role(RoleName="evil", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = lam.create_function(
        FunctionName="evil", Runtime="python3.12", Role=role, Handler="evil.handler",
        Code={"ZipFile": marker_zip(emulator)},
    )["FunctionArn"]  # fmt: skip
    url = sqs.create_queue(QueueName="evilq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName="evil", EventSourceArn=queue_arn)["UUID"]
    sqs.send_message(QueueUrl=url, MessageBody="go")
    rule_set = ses.describe_active_receipt_rule_set()["Metadata"]["Name"]
    ses.create_receipt_rule(
        RuleSetName=rule_set,
        Rule={"Name": "evil", "Enabled": True, "Recipients": ["evil.example"], "Actions": [
            {"LambdaAction": {"FunctionArn": arn, "InvocationType": "RequestResponse"}},
            {"LambdaAction": {"FunctionArn": arn, "InvocationType": "Event"}},
        ]},
    )  # fmt: skip
    try:
        with smtplib.SMTP(emulator.state.smtp_host, emulator.state.smtp_port, timeout=30) as smtp:
            smtp.starttls(context=client_context())
            smtp.sendmail("a@sender.example", ["x@evil.example"], b"Subject: go\r\n\r\ngo\r\n")
        emulator.wait_for_log(f"event source mapping {mapping} is not polled")
        emulator.wait_for_log("refused to run evil: only Mailflow's handler functions")
        invoked = lam.invoke(FunctionName="evil", Payload=b"{}")
        assert invoked["FunctionError"] == "Unhandled"
        assert json.loads(invoked["Payload"].read())["errorType"] == "Mailflow.FunctionRefused"
        assert lam.invoke(FunctionName="evil", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    finally:
        ses.delete_receipt_rule(RuleSetName=rule_set, RuleName="evil")
        lam.delete_event_source_mapping(UUID=mapping)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1", "the mapping's queue is left alone"
    assert not emulator.marker.exists(), "the function's code ran"


def test_mailflows_function_with_edited_code_is_never_run(emulator: Emulator) -> None:
    """Same name, handler and tags as the deployed handler; one line of its package changed."""
    lam, sqs = emulator.client("lambda"), emulator.client("sqs")
    name = emulator.outputs["lambdaFunctionName"]
    original = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    assert lam.get_function_configuration(FunctionName=name)["Handler"] == HANDLER_STRING
    lam.update_function_code(FunctionName=name, ZipFile=edited_handler_zip(emulator))
    try:
        sqs.send_message(
            QueueUrl=emulator.outputs["outboundQueueUrl"], MessageBody=outbound_request("edited")
        )
        emulator.wait_for_log(f"refused to run {name}: its code differs from the handler this CLI ships")
    finally:
        restored = lam.update_function_code(FunctionName=name, ZipFile=deployed_zip(emulator))
    assert restored["CodeSha256"] == original
    assert not emulator.marker.exists(), "the edited code ran"


def test_lambdas_invoke_api_runs_the_deployed_handler(emulator: Emulator) -> None:
    """Invoke reaches the emulator's runner (as `mailflow dlq redrive inbound --local` needs), not moto's."""
    sqs = emulator.client("sqs")
    queue = emulator.outputs["outboundQueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    record = {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": outbound_request("invoke"),
              "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": arn,
              "awsRegion": "eu-west-1"}  # fmt: skip
    invoked = emulator.client("lambda").invoke(
        FunctionName=emulator.outputs["lambdaFunctionName"], Payload=json.dumps({"Records": [record]})
    )
    assert invoked["StatusCode"] == 200
    assert "FunctionError" not in invoked
    assert json.loads(invoked["Payload"].read()) == {"batchItemFailures": []}


# Finding 16: file modes -------------------------------------------------------------------------------------
def test_the_state_directory_is_private_from_start(emulator: Emulator) -> None:
    """Started with umask 022 over a 0755 directory an older version left: everything is 0700/0600."""
    found = modes(emulator.local)
    assert found == private(emulator.local)
    assert found["."] == 0o700
    for name in (
        "state.json",
        "emulator.log",
        "tls/smtp-key.pem",
        "tls/smtp-cert.pem",
        "outbox/left-by-an-older-version.eml",
    ):
        assert found[name] == 0o600, name
    assert found["code"] == 0o700


def test_outbox_log_and_code_files_stay_private(emulator: Emulator) -> None:
    sqs = emulator.client("sqs")
    size = (emulator.local / "emulator.log").stat().st_size
    sent_before = len(list((emulator.local / "outbox").glob("*.eml")))
    sqs.send_message(QueueUrl=emulator.outputs["outboundQueueUrl"], MessageBody=outbound_request("modes"))
    emulator.wait_for_log("outbox #", since=size)
    assert len(list((emulator.local / "outbox").glob("*.eml"))) > sent_before, "the mail reached the outbox"
    assert (emulator.local / "emulator.log").stat().st_size > size, "the log was written to"
    assert any((emulator.local / "code").rglob("*.py")), "the handler's code was unpacked"
    assert modes(emulator.local) == private(emulator.local)


# Region mismatch -------------------------------------------------------------------------------------------
def test_a_stack_in_another_region_is_warned_about_and_its_mail_refusal_explained(emulator: Emulator) -> None:
    other = emulator.home.parent / "other.yaml"
    other.write_text("environment: other\nregion: us-east-1\ndomains: [other.example]\napps: [app1]\n")
    deployed = mailflow(emulator.home, "deploy", "--local", "-y", "-c", str(other), timeout=120)
    assert deployed.returncode == 0, deployed.stderr
    warning = " ".join(deployed.stderr.split())
    assert "the local emulator receives mail in eu-west-1, but this stack is in us-east-1" in warning
    assert "mailflow local stop && mailflow local start --region us-east-1" in warning
    same_region = mailflow(emulator.home, "outputs", "--local", "-c", str(REPO / "mailflow.yaml.example"))
    assert same_region.returncode == 0, same_region.stderr
    assert "receives mail in" not in same_region.stderr
    with smtplib.SMTP(emulator.state.smtp_host, emulator.state.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=client_context())
        smtp.ehlo()
        smtp.mail("alice@sender.example")
        code, reply = smtp.rcpt("_app1@other.example")
        assert code == 550
        assert b"5.1.1 Mailbox does not exist: its receipt rule is in us-east-1" in reply
        assert b"mailflow local start --region us-east-1" in reply
        assert smtp.rcpt("someone@nowhere.example") == (550, b"5.1.1 Mailbox does not exist")
