"""Contract C1 (finding 7): what the handler stores per app, so IAM can keep apps apart.

The raw object gets one tag `mailflow:app:<app>` = `1` per target (the first ten, by app name); targets
past the tenth get a tagless copy under `raw-copies/<app>/`; attachments and claim checks are keyed per
app. Relies on S3 behaviour moto shares with AWS: PutObjectTagging replaces the whole tag set, and
CopyObject with TaggingDirective=REPLACE and no tags gives a copy without tags.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailflow_handler import clients, handler
from mailflow_handler.config import parse_config
from mailflow_handler.inbound import message as msg
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.testing import fake_deps

from .conftest import BUCKET, Env, make_config, ses_event, ses_record

TWO_APPS = ["_app1@example.com", "_app2@example.com"]


def with_attachment(to: str = "_app1@example.com") -> bytes:
    pdf = base64.b64encode(b"%PDF-1.4 isolation").decode()
    return (
        f"From: a@sender.org\r\nTo: {to}\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="r.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--b--\r\n"
    ).encode()


def tags(env: Env, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in env.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


class S3Calls:
    """Counts the handler's S3 calls (botocore's before-call hook; set-up calls are not counted)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        clients.client("s3").meta.events.register("before-call.s3.*", self)

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


def test_one_target_tags_the_raw_object_once(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(with_attachment())
    counter = S3Calls()
    handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), None)
    (message,) = aws_env.drain("app1")
    assert tags(aws_env, f"raw/{ses_id}") == {"mailflow:app:app1": "1"}
    assert message["metadata"]["s3ObjectKey"] == f"raw/{ses_id}"
    (att,) = message["email"]["attachments"]
    assert att["s3Key"] == f"attachments/app1/{ses_id}/0-r.pdf"
    # First delivery: read the raw mail, tag it (no read of the tags), upload the attachment.
    assert sorted(counter.calls) == ["GetObject", "PutObject", "PutObjectTagging"]


def test_two_targets_each_get_their_own_keys(aws_env: Env, inbound_validator: Any) -> None:
    ses_id = aws_env.put_raw(with_attachment(", ".join(TWO_APPS)))
    counter = S3Calls()
    handler(ses_event(ses_record(ses_id, TWO_APPS)), None)
    assert tags(aws_env, f"raw/{ses_id}") == {"mailflow:app:app1": "1", "mailflow:app:app2": "1"}
    for app in ("app1", "app2"):
        (message,) = aws_env.drain(app)
        inbound_validator.validate(message)
        (att,) = message["email"]["attachments"]
        assert att["s3Key"] == f"attachments/{app}/{ses_id}/0-r.pdf"
        stored = aws_env.s3.get_object(Bucket=BUCKET, Key=att["s3Key"])
        assert stored["Body"].read() == b"%PDF-1.4 isolation"
        assert message["metadata"]["s3ObjectKey"] == f"raw/{ses_id}"
    # One upload per app: a server-side copy would need the handler to read attachments/ (contract C1).
    assert sorted(counter.calls) == ["GetObject", "PutObject", "PutObject", "PutObjectTagging"]


def test_shared_section_splices_to_each_targets_exact_message() -> None:
    """The `email` section is serialised once with an app slot; each target's body must be byte for byte
    what serialising its own message gives, and its measured size right."""
    deps = fake_deps(parse_config(make_config()))
    raw = with_attachment(", ".join(TWO_APPS)).replace(b"hello", "h\u00e9llo \ufffe".encode())
    result = process(raw, ses_record("splice-1", TWO_APPS), deps)
    assert result.delivered == ["app1", "app2"]
    for (_, body), sent, app in zip(deps.sqs.sent, result.sent, ["app1", "app2"], strict=True):
        document = json.loads(body)
        assert body == msg.serialise(document)
        assert sent["bytes"] == len(body.encode("utf-8"))
        assert document["email"]["attachments"][0]["s3Key"] == f"attachments/{app}/splice-1/0-r.pdf"
    assert sorted(k for _, k in deps.s3.objects) == [
        "attachments/app1/splice-1/0-r.pdf",
        "attachments/app2/splice-1/0-r.pdf",
    ]


def test_claim_checks_are_per_app(aws_env: Env) -> None:
    aws_env.write_config(limits={"sqsMaxMessageBytes": 4096})
    raw = with_attachment(", ".join(TWO_APPS)).replace(b"hello", b"x" * 20_000)
    ses_id = aws_env.put_raw(raw)
    handler(ses_event(ses_record(ses_id, TWO_APPS)), None)
    for app in ("app1", "app2"):
        (message,) = aws_env.drain(app)
        claim = message["email"]["claimCheck"]
        assert claim["s3Key"] == f"claims/{app}/{ses_id}.json"
        document = json.loads(aws_env.s3.get_object(Bucket=BUCKET, Key=claim["s3Key"])["Body"].read())
        assert document["attachments"][0]["s3Key"] == f"attachments/{app}/{ses_id}/0-r.pdf"


def test_the_default_target_is_tagged_as_default(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(with_attachment("nobody@example.com"))
    handler(ses_event(ses_record(ses_id, ["nobody@example.com"])), None)
    (message,) = aws_env.drain("default")
    assert message["app"] == "default"
    assert tags(aws_env, f"raw/{ses_id}") == {"mailflow:app:default": "1"}
    assert message["email"]["attachments"][0]["s3Key"].startswith(f"attachments/default/{ses_id}/")


def twelve_apps(env: Env) -> list[str]:
    names = [f"app{i:02d}" for i in range(12)]
    apps = {
        n: {"queue": f"mf-app-{n}", "senders": [f"_{n}@example.com"], "allowedSenderDomains": []}
        for n in names
    }
    for n in names:
        env.urls[n] = env.sqs.create_queue(QueueName=f"mf-app-{n}")["QueueUrl"]
    env.write_config(apps=apps)
    return names


def test_targets_past_the_tenth_get_a_tagless_copy(aws_env: Env) -> None:
    names = twelve_apps(aws_env)
    recipients = [f"_{n}@example.com" for n in reversed(names)]  # sorted by name, not by order seen
    ses_id = aws_env.put_raw(with_attachment())
    handler(ses_event(ses_record(ses_id, recipients)), None)
    assert tags(aws_env, f"raw/{ses_id}") == {f"mailflow:app:{n}": "1" for n in names[:10]}
    for n in names:
        (message,) = aws_env.drain(n)
        expected = f"raw/{ses_id}" if n in names[:10] else f"raw-copies/{n}/{ses_id}"
        assert message["metadata"]["s3ObjectKey"] == expected
    for n in names[10:]:
        copy = aws_env.s3.get_object(Bucket=BUCKET, Key=f"raw-copies/{n}/{ses_id}")
        assert copy["Body"].read() == with_attachment()
        assert tags(aws_env, f"raw-copies/{n}/{ses_id}") == {}


def test_a_retry_keeps_the_tags_of_targets_already_delivered(
    aws_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ses_id = aws_env.put_raw(with_attachment(", ".join(TWO_APPS)))
    sqs = clients.client("sqs")
    real = sqs.send_message
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessage")

    def second_send_throttled(**kwargs: Any) -> Any:
        if kwargs["QueueUrl"].endswith("mf-app-app2"):
            raise throttled
        return real(**kwargs)

    monkeypatch.setattr(sqs, "send_message", second_send_throttled)
    with pytest.raises(ClientError):
        handler(ses_event(ses_record(ses_id, TWO_APPS)), None)
    assert len(aws_env.drain("app1")) == 1
    raw_tags = aws_env.s3.get_object_tagging(Bucket=BUCKET, Key=f"raw/{ses_id}")["TagSet"]
    aws_env.s3.put_object_tagging(
        Bucket=BUCKET,
        Key=f"raw/{ses_id}",
        Tagging={"TagSet": [*raw_tags, {"Key": "retention", "Value": "legal"}]},
    )
    monkeypatch.setattr(sqs, "send_message", real)
    counter = S3Calls()
    handler(ses_event(ses_record(ses_id, TWO_APPS)), None)  # Lambda's retry
    assert aws_env.drain("app1") == []
    assert len(aws_env.drain("app2")) == 1
    # The retry read the tag set and wrote nothing new: app1 and app2 were tagged by the first attempt,
    # and the tag added in between is kept.
    assert "GetObjectTagging" in counter.calls
    assert "PutObjectTagging" not in counter.calls
    assert tags(aws_env, f"raw/{ses_id}") == {
        "retention": "legal",
        "mailflow:app:app1": "1",
        "mailflow:app:app2": "1",
    }


def test_quarantined_mail_is_never_tagged_or_copied(aws_env: Env) -> None:
    ses_id = aws_env.put_raw(with_attachment(", ".join(TWO_APPS)))
    handler(ses_event(ses_record(ses_id, TWO_APPS, virus="FAIL")), None)
    assert tags(aws_env, f"raw/{ses_id}") == {}
    listed = aws_env.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [
        f"quarantine/{ses_id}.eml",
        f"quarantine/{ses_id}.json",
        f"raw/{ses_id}",
    ]
    assert tags(aws_env, f"quarantine/{ses_id}.eml") == {}


def test_grant_merges_with_existing_tags_within_the_ten_tag_limit() -> None:
    from mailflow_handler.inbound import rawaccess
    from mailflow_handler.testing import FakeS3

    s3 = FakeS3()
    s3.objects[(BUCKET, "raw/m")] = b"mail"
    foreign = [{"Key": f"ops:{i}", "Value": "x"} for i in range(7)]
    s3.tags[(BUCKET, "raw/m")] = [*foreign, {"Key": "mailflow:app:zeta", "Value": "1"}]
    keys = rawaccess.grant(
        s3,
        bucket=BUCKET,
        raw_key="raw/m",
        copies_prefix="raw-copies/",
        ses_id="m",
        apps=["alpha", "beta", "gamma", "zeta"],
        pending=["alpha", "beta", "gamma"],
        fresh=False,
    )
    # Room for two more tags: alpha and beta (by name); gamma gets a copy; zeta's tag is kept.
    assert keys == {"alpha": "raw/m", "beta": "raw/m", "gamma": "raw-copies/gamma/m"}
    assert s3.tags[(BUCKET, "raw/m")] == [
        *foreign,
        {"Key": "mailflow:app:zeta", "Value": "1"},
        {"Key": "mailflow:app:alpha", "Value": "1"},
        {"Key": "mailflow:app:beta", "Value": "1"},
    ]
    assert s3.objects[(BUCKET, "raw-copies/gamma/m")] == b"mail"
    assert s3.tags[(BUCKET, "raw-copies/gamma/m")] == []
