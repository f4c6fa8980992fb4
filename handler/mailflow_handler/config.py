"""Runtime configuration (docs/runtime-config.md), read once per container."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "MAILFLOW_CONFIG_PATH"
CONFIG_FILENAME = "mailflow_config.json"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class AppConfig:
    name: str
    queue: str
    senders: frozenset[str]
    allowed_sender_domains: frozenset[str]
    # IAM unique ids (AROA.../AIDA...) allowed to send as this app; empty = any writer of the queue.
    sender_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundLimits:
    """Bounds on the work one inbound email may cause (docs/runtime-config.md, "limits")."""

    max_header_bytes: int = 262_144
    max_header_field_bytes: int = 65_536
    max_parts: int = 1_000
    max_attachments: int = 100
    max_decoded_bytes: int = 41_943_040
    max_depth: int = 32
    max_embedded_header_bytes: int = 262_144


# Deeper nesting would bring the stdlib parser and generator (which recurse per level) near Python's
# recursion limit.
MAX_DEPTH_CEILING = 100


@dataclass(frozen=True)
class AttachmentSource:
    bucket: str
    prefix: str


@dataclass(frozen=True)
class Config:
    version: int
    environment: str
    region: str
    account_id: str
    domains: frozenset[str]
    apps: dict[str, AppConfig]
    default_queue: str
    outbound_queue: str
    inbound_dlq: str
    apps_dlq: str
    outbound_dlq: str
    bucket: str
    prefix_raw: str
    prefix_attachments: str
    prefix_quarantine: str
    prefix_claims: str
    prefix_outbound: str
    prefix_raw_copies: str
    idempotency_table: str
    idempotency_ttl_seconds: int
    # The inbound email record (its `receipt`, for DLQ redrive) lives at least as long as the raw mail.
    idempotency_receipt_ttl_seconds: int
    idempotency_in_progress_seconds: int
    spam_fail: str
    dmarc_reject: str
    virus_fail: str
    attachment_sources: tuple[AttachmentSource, ...]
    max_recipients: int
    max_attachment_bytes: int
    sqs_max_message_bytes: int
    limits: InboundLimits
    # SES feedback (contract E); empty names: the stack has no feedback path (an older deploy).
    ses_events_queue: str = ""
    configuration_set: str = ""
    send_events: bool = False
    # EMF metrics are printed only when the stack asks for them (observability.metrics).
    metrics: bool = False
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


def default_path() -> Path:
    return Path(__file__).resolve().parent.parent / CONFIG_FILENAME


def _get(doc: dict[str, Any], *path: str, default: Any = None, required: bool = True) -> Any:
    node: Any = doc
    for key in path:
        if not isinstance(node, dict) or key not in node:
            if required:
                raise ConfigError(f"missing config key {'.'.join(path)}")
            return default
        node = node[key]
    return node


def _policy(value: Any, key: str) -> str:
    if value not in ("quarantine", "deliver"):
        raise ConfigError(f"security.{key} must be 'quarantine' or 'deliver', got {value!r}")
    return str(value)


def _attachment_sources(value: Any) -> tuple[AttachmentSource, ...]:
    """Each source needs a non-empty key prefix ending in `/`: an empty one would open the whole bucket
    (including `raw/`), and `out` would also match `outbox/...`."""
    if not isinstance(value, list):
        raise ConfigError("outbound.attachmentSources must be a list")
    sources = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("bucket"), str) or not item["bucket"]:
            raise ConfigError(f"outbound.attachmentSources[{i}] needs a bucket")
        prefix = item.get("prefix")
        if not isinstance(prefix, str) or not prefix or not prefix.endswith("/"):
            raise ConfigError(
                f"outbound.attachmentSources[{i}].prefix must be a non-empty key prefix ending in '/'"
            )
        sources.append(AttachmentSource(bucket=item["bucket"], prefix=prefix))
    return tuple(sources)


def _switch(doc: dict[str, Any], *path: str) -> bool:
    value = _get(doc, *path, default=False, required=False)
    if not isinstance(value, bool):
        raise ConfigError(f"{'.'.join(path)} must be true or false, got {value!r}")
    return value


def _name(doc: dict[str, Any], *path: str) -> str:
    value = _get(doc, *path, default="", required=False)
    if not isinstance(value, str):
        raise ConfigError(f"{'.'.join(path)} must be a string, got {value!r}")
    return value


def _limit(doc: dict[str, Any], key: str, default: int, ceiling: int | None = None) -> int:
    value = _get(doc, "limits", key, default=default, required=False)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"limits.{key} must be a positive integer, got {value!r}")
    if ceiling is not None and value > ceiling:
        raise ConfigError(f"limits.{key} must be at most {ceiling}, got {value}")
    return value


def _limits(doc: dict[str, Any]) -> InboundLimits:
    defaults = InboundLimits()
    return InboundLimits(
        max_header_bytes=_limit(doc, "maxHeaderBytes", defaults.max_header_bytes),
        max_header_field_bytes=_limit(doc, "maxHeaderFieldBytes", defaults.max_header_field_bytes),
        max_parts=_limit(doc, "maxParts", defaults.max_parts),
        max_attachments=_limit(doc, "maxAttachments", defaults.max_attachments),
        max_decoded_bytes=_limit(doc, "maxDecodedBytes", defaults.max_decoded_bytes),
        max_depth=_limit(doc, "maxDepth", defaults.max_depth, MAX_DEPTH_CEILING),
        max_embedded_header_bytes=_limit(doc, "maxEmbeddedHeaderBytes", defaults.max_embedded_header_bytes),
    )


def _check_events_queue(doc: dict[str, Any], apps: dict[str, AppConfig]) -> None:
    """The SES events queue is told apart from the outbound queue by name alone (dispatch), so it must
    be none of the stack's other queues."""
    events = _name(doc, "queues", "sesEvents")
    queues = doc.get("queues")
    listed = queues.items() if isinstance(queues, dict) else ()
    others = {str(v) for k, v in listed if k != "sesEvents"} | {a.queue for a in apps.values()}
    if events and events in others:
        raise ConfigError(f"queues.sesEvents ({events}) must not be another of the stack's queues")


def parse_config(doc: dict[str, Any]) -> Config:
    if not isinstance(doc, dict):
        raise ConfigError("config document must be a JSON object")
    version = _get(doc, "version")
    if version != 1:
        raise ConfigError(f"unsupported config version {version!r}")
    apps_doc = _get(doc, "apps")
    if not isinstance(apps_doc, dict):
        raise ConfigError("apps must be an object")
    apps: dict[str, AppConfig] = {}
    for name, app in apps_doc.items():
        sender_ids = _get(app, "senderIds", default=[], required=False) or []
        if not isinstance(sender_ids, list) or not all(
            isinstance(i, str) and i and ":" not in i for i in sender_ids
        ):
            raise ConfigError(f"apps.{name}.senderIds must be a list of IAM unique ids")
        apps[name.lower()] = AppConfig(
            name=name.lower(),
            queue=str(_get(app, "queue")),
            senders=frozenset(s.lower() for s in _get(app, "senders", default=[], required=False)),
            allowed_sender_domains=frozenset(
                d.lower().rstrip(".") for d in _get(app, "allowedSenderDomains", default=[], required=False)
            ),
            sender_ids=tuple(sender_ids),
        )
    _check_events_queue(doc, apps)
    virus = _get(doc, "security", "virusFail", default="quarantine", required=False)
    if virus != "quarantine":
        raise ConfigError("security.virusFail must be 'quarantine'")
    return Config(
        version=1,
        environment=str(_get(doc, "environment")),
        region=str(_get(doc, "region")),
        account_id=str(_get(doc, "accountId", default="", required=False)),
        domains=frozenset(d.lower().rstrip(".") for d in _get(doc, "domains")),
        apps=apps,
        default_queue=str(_get(doc, "queues", "default")),
        outbound_queue=str(_get(doc, "queues", "outbound")),
        inbound_dlq=str(_get(doc, "queues", "inboundDlq")),
        apps_dlq=str(_get(doc, "queues", "appsDlq", default="", required=False)),
        outbound_dlq=str(_get(doc, "queues", "outboundDlq")),
        bucket=str(_get(doc, "bucket")),
        prefix_raw=str(_get(doc, "prefixes", "raw", default="raw/", required=False)),
        prefix_attachments=str(_get(doc, "prefixes", "attachments", default="attachments/", required=False)),
        prefix_quarantine=str(_get(doc, "prefixes", "quarantine", default="quarantine/", required=False)),
        prefix_claims=str(_get(doc, "prefixes", "claims", default="claims/", required=False)),
        prefix_outbound=str(_get(doc, "prefixes", "outbound", default="outbound/", required=False)),
        prefix_raw_copies=str(_get(doc, "prefixes", "rawCopies", default="raw-copies/", required=False)),
        idempotency_table=str(_get(doc, "idempotency", "table")),
        idempotency_ttl_seconds=int(_get(doc, "idempotency", "ttlSeconds", default=86400, required=False)),
        idempotency_receipt_ttl_seconds=int(
            _get(doc, "idempotency", "receiptTtlSeconds", default=604800, required=False)
        ),
        idempotency_in_progress_seconds=int(
            _get(doc, "idempotency", "inProgressSeconds", default=120, required=False)
        ),
        spam_fail=_policy(
            _get(doc, "security", "spamFail", default="quarantine", required=False), "spamFail"
        ),
        dmarc_reject=_policy(
            _get(doc, "security", "dmarcReject", default="quarantine", required=False), "dmarcReject"
        ),
        virus_fail="quarantine",
        attachment_sources=_attachment_sources(
            _get(doc, "outbound", "attachmentSources", default=[], required=False)
        ),
        max_recipients=int(_get(doc, "outbound", "maxRecipients", default=50, required=False)),
        max_attachment_bytes=int(
            _get(doc, "outbound", "maxAttachmentBytes", default=10485760, required=False)
        ),
        sqs_max_message_bytes=int(_get(doc, "limits", "sqsMaxMessageBytes", default=1048576, required=False)),
        limits=_limits(doc),
        ses_events_queue=_name(doc, "queues", "sesEvents"),
        configuration_set=_name(doc, "feedback", "configurationSet"),
        send_events=_switch(doc, "feedback", "sendEvents"),
        metrics=_switch(doc, "observability", "metrics"),
        raw=doc,
    )


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    config_path = Path(path or os.environ.get(CONFIG_ENV) or default_path())
    try:
        doc = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read runtime config {config_path}: {exc}") from exc
    return parse_config(doc)


_cached: Config | None = None


def get_config() -> Config:
    """The container's configuration, loaded on first use."""
    global _cached  # noqa: PLW0603
    if _cached is None:
        _cached = load_config()
    return _cached


def reset() -> None:
    """Forget the cached configuration (tests)."""
    global _cached  # noqa: PLW0603
    _cached = None
