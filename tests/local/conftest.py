"""Fixtures for the emulator's unit tests: moto in-process (with the emulator's patches) and a zip."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from mailflow_cli.local import moto_patches

REGION = "eu-west-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    undo = moto_patches.install_moto_compat(emulator=True)
    try:
        with mock_aws():
            yield {
                name: boto3.client(name, region_name=REGION)
                for name in ("lambda", "logs", "sqs", "iam", "s3", "ses")
            }
    finally:
        undo()


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def create_role(iam: Any) -> str:
    return str(iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)
