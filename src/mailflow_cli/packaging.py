"""The Lambda zip: the handler package plus the generated ``mailflow_config.json``, reproducible.

Same input, same bytes: entries are sorted, timestamps fixed at 1980-01-01, permissions fixed, and
caches left out, so a re-deploy compares the zip's sha256 with the function's ``CodeSha256``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailflow_cli.config import MailflowConfig
from mailflow_cli.errors import MailflowError
from mailflow_cli.naming import (
    ATTACHMENTS_PREFIX,
    CLAIMS_PREFIX,
    OUTBOUND_PREFIX,
    QUARANTINE_PREFIX,
    RAW_COPIES_PREFIX,
    RAW_PREFIX,
    StackNames,
)

HANDLER_PACKAGE = "mailflow_handler"
RUNTIME_CONFIG_NAME = "mailflow_config.json"
RUNTIME_CONFIG_VERSION = 1
IDEMPOTENCY_IN_PROGRESS_SECONDS = 120
MAX_HEADER_BYTES = 262_144
MAX_HEADER_FIELD_BYTES = 65_536
_FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16
_SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class LambdaBundle:
    zip_bytes: bytes

    @property
    def sha256(self) -> str:
        """Base64 sha256, the form Lambda reports as ``CodeSha256``."""
        return base64.b64encode(hashlib.sha256(self.zip_bytes).digest()).decode("ascii")


def handler_source_dir() -> Path:
    """The handler package: inside the installed wheel, else the repository's ``handler/`` directory."""
    try:
        shipped = importlib.resources.files("mailflow_cli").joinpath("_handler", HANDLER_PACKAGE)
        if shipped.is_dir():
            return Path(str(shipped))
    except (ModuleNotFoundError, NotADirectoryError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "handler" / HANDLER_PACKAGE
    if checkout.is_dir():
        return checkout
    raise MailflowError(
        "the Lambda handler source (mailflow_handler) is not installed with mailflow",
        hint="reinstall mailflow (pip install --force-reinstall mailflow), or run from a source checkout",
    )


def runtime_config(
    config: MailflowConfig, names: StackNames, sender_ids: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """The document described in docs/runtime-config.md.

    ``sender_ids``: per app, the IAM unique ids of its ``senderPrincipals`` (resolved by the deploy
    engine); an app without principals gets no ``senderIds`` key.
    """
    apps: dict[str, dict[str, Any]] = {
        app.name: {
            "queue": names.app_queue(app.name),
            "senders": sorted({f"_{app.name}@{domain}" for domain in config.domains} | set(app.send_as)),
            "allowedSenderDomains": list(app.allowed_sender_domains),
        }
        for app in config.apps
    }
    for app_name, ids in (sender_ids or {}).items():
        if ids:
            apps[app_name]["senderIds"] = sorted(ids)
    sources = [{"bucket": names.bucket, "prefix": OUTBOUND_PREFIX}]
    for location in config.outbound.attachment_sources:
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        sources.append({"bucket": bucket, "prefix": prefix})
    return {
        "version": RUNTIME_CONFIG_VERSION,
        "environment": config.environment,
        "region": config.region,
        "accountId": names.account_id,
        "domains": list(config.domains),
        "apps": apps,
        "queues": {
            "default": names.default_queue,
            "outbound": names.outbound_queue,
            "inboundDlq": names.inbound_dlq,
            "appsDlq": names.apps_dlq,
            "outboundDlq": names.outbound_dlq,
            "sesEvents": names.events_queue,
        },
        "bucket": names.bucket,
        "prefixes": {
            "raw": RAW_PREFIX,
            "attachments": ATTACHMENTS_PREFIX,
            "quarantine": QUARANTINE_PREFIX,
            "claims": CLAIMS_PREFIX,
            "outbound": OUTBOUND_PREFIX,
            "rawCopies": RAW_COPIES_PREFIX,
        },
        "idempotency": {
            "table": names.table,
            "ttlSeconds": config.idempotency.ttl_hours * 3600,
            "inProgressSeconds": IDEMPOTENCY_IN_PROGRESS_SECONDS,
            # The inbound email record keeps the SES record for `dlq redrive` as long as the raw mail.
            "receiptTtlSeconds": config.storage.raw_retention_days * 86400,
        },
        "security": {
            "spamFail": config.security.spam_fail,
            "dmarcReject": config.security.dmarc_reject,
            "virusFail": config.security.virus_fail,
        },
        "outbound": {
            "attachmentSources": sources,
            "maxRecipients": config.outbound.max_recipients,
            "maxAttachmentBytes": config.outbound.max_attachment_bytes,
        },
        "limits": {
            "sqsMaxMessageBytes": config.queues.max_message_bytes,
            "maxHeaderBytes": MAX_HEADER_BYTES,
            "maxHeaderFieldBytes": MAX_HEADER_FIELD_BYTES,
            "maxParts": config.inbound.max_parts,
            "maxAttachments": config.inbound.max_attachments,
            "maxDecodedBytes": config.inbound.max_decoded_bytes,
            "maxDepth": config.inbound.max_depth,
            "maxEmbeddedHeaderBytes": config.inbound.max_embedded_header_bytes,
        },
        "feedback": {
            "configurationSet": names.configuration_set,
            "sendEvents": config.outbound.feedback.send_events,
        },
        "observability": {"metrics": config.observability.metrics},
    }


def handler_files(root: Path) -> list[tuple[str, Path]]:
    """The handler package's files as the zip holds them: (entry name, file), sorted by name."""
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or _SKIPPED_PARTS.intersection(relative.parts):
            continue
        if path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        files.append((f"{HANDLER_PACKAGE}/{relative.as_posix()}", path))
    return sorted(files)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIMESTAMP)
    info.external_attr = _FILE_MODE
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    return info


def build_bundle(
    config: MailflowConfig,
    names: StackNames,
    source: Path | None = None,
    sender_ids: Mapping[str, Sequence[str]] | None = None,
) -> LambdaBundle:
    root = source or handler_source_dir()
    document = json.dumps(runtime_config(config, names, sender_ids), indent=2, sort_keys=True).encode("utf-8")
    entries = [(name, path.read_bytes()) for name, path in handler_files(root)]
    entries.append((RUNTIME_CONFIG_NAME, document))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(entries):
            archive.writestr(_entry(name), data, compresslevel=9)
    return LambdaBundle(buffer.getvalue())
