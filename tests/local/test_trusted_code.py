"""Which functions the emulator runs: Mailflow's handler, with the zip this CLI builds, and nothing else."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from mailflow_cli.config import parse_config
from mailflow_cli.local.trusted_code import FunctionRefused, ShippedHandler, check_identity
from mailflow_cli.naming import (
    HANDLER_STRING,
    MANAGED_BY_VALUE,
    TAG_COMPONENT,
    TAG_ENVIRONMENT,
    TAG_MANAGED_BY,
    stack_names,
)
from mailflow_cli.packaging import build_bundle

from .conftest import make_zip

CONFIG = parse_config("environment: dev\nregion: eu-west-1\ndomains: [example.com]\napps: [app1]\n")
TAGS = {TAG_MANAGED_BY: MANAGED_BY_VALUE, TAG_ENVIRONMENT: "dev", TAG_COMPONENT: "handler", "team": "mail"}


@pytest.fixture(scope="module")
def shipped() -> ShippedHandler:
    return ShippedHandler.from_directory()


@pytest.fixture(scope="module")
def deployed_zip() -> bytes:
    """The zip `mailflow deploy` uploads for CONFIG."""
    return build_bundle(CONFIG, stack_names(CONFIG, "123456789012")).zip_bytes


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_mailflows_handler_passes() -> None:
    check_identity("mailflow-dev-handler", HANDLER_STRING, TAGS)
    check_identity("mailflow-prod2-handler", HANDLER_STRING, {**TAGS, TAG_ENVIRONMENT: "prod2"})


@pytest.mark.parametrize(
    ("name", "handler", "tags", "reason"),
    [
        ("evil", HANDLER_STRING, TAGS, "only Mailflow's handler functions"),
        ("mailflow-dev-handler-2", HANDLER_STRING, TAGS, "only Mailflow's handler functions"),
        ("mailflow-Dev-handler", HANDLER_STRING, TAGS, "only Mailflow's handler functions"),
        ("mailflow--handler", HANDLER_STRING, TAGS, "only Mailflow's handler functions"),
        ("mailflow-dev-x-handler", HANDLER_STRING, TAGS, "only Mailflow's handler functions"),
        ("mailflow-dev-handler", "evil.handler", TAGS, "its handler is 'evil.handler'"),
        ("mailflow-dev-handler", "mailflow_handler.inbound.handler", TAGS, "its handler is"),
        ("mailflow-dev-handler", HANDLER_STRING, {}, "lacks Mailflow's ownership tags"),
        ("mailflow-dev-handler", HANDLER_STRING, {**TAGS, TAG_ENVIRONMENT: "prod"}, "ownership tags"),
        ("mailflow-dev-handler", HANDLER_STRING, {**TAGS, TAG_MANAGED_BY: "someone"}, "ownership tags"),
        ("mailflow-dev-handler", HANDLER_STRING, {**TAGS, TAG_COMPONENT: "storage"}, "ownership tags"),
    ],
)
def test_other_functions_are_refused(name: str, handler: str, tags: dict[str, str], reason: str) -> None:
    with pytest.raises(FunctionRefused, match=reason):
        check_identity(name, handler, tags)


def test_the_zip_deploy_builds_passes(shipped: ShippedHandler, deployed_zip: bytes) -> None:
    files = shipped.verified_files("mailflow-dev-handler", deployed_zip)
    assert files == entries(deployed_zip)
    assert "mailflow_config.json" in files


Change = Callable[[dict[str, bytes]], dict[str, bytes]]


def added(name: str) -> Change:
    return lambda files: {**files, name: b"import os\n"}


def removed(name: str) -> Change:
    return lambda files: {key: data for key, data in files.items() if key != name}


def edited(name: str) -> Change:
    return lambda files: {**files, name: files[name] + b"\nimport os\n"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (added("sitecustomize.py"), "unknown sitecustomize.py"),
        (
            added("mailflow_handler/__init__.cpython-311-x86_64-linux-gnu.so"),
            "unknown mailflow_handler/__init__",
        ),
        (
            added("mailflow_handler/__pycache__/__init__.cpython-311.pyc"),
            "unknown mailflow_handler/__pycache__",
        ),
        (added("boto3/__init__.py"), "unknown boto3/__init__.py"),
        (removed("mailflow_config.json"), "missing mailflow_config.json"),
        (removed("mailflow_handler/dispatch.py"), "missing mailflow_handler/dispatch.py"),
        (edited("mailflow_handler/__init__.py"), "changed mailflow_handler/__init__.py"),
    ],
)
def test_a_zip_that_differs_from_the_shipped_package_is_refused(
    shipped: ShippedHandler, deployed_zip: bytes, change: Change, reason: str
) -> None:
    changed = change(entries(deployed_zip))
    with pytest.raises(FunctionRefused, match=reason) as refused:
        shipped.verified_files(
            "mailflow-dev-handler", make_zip({k: v.decode("latin-1") for k, v in changed.items()})
        )
    assert "deploy it again with this mailflow" in refused.value.reason


def test_a_zip_naming_one_file_twice_is_refused(shipped: ShippedHandler, deployed_zip: bytes) -> None:
    """zipfile reads the last of two same-named entries: the first could pass the comparison."""
    buffer = io.BytesIO(deployed_zip)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("mailflow_handler/__init__.py", "import os")
    with pytest.raises(FunctionRefused, match="the same name twice"):
        shipped.verified_files("mailflow-dev-handler", buffer.getvalue())


def test_what_is_not_a_zip_is_refused(shipped: ShippedHandler) -> None:
    with pytest.raises(FunctionRefused, match="not a readable zip"):
        shipped.verified_files("mailflow-dev-handler", b"PK\x03\x04 garbage")
