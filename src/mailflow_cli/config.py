"""The ``mailflow.yaml`` model: parsed with PyYAML, validated with pydantic before any AWS call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mailflow_cli.errors import ConfigError

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}$")
APP_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
PRINCIPAL_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
TAG_KEY_PATTERN = re.compile(r"^[\w .:/=+@-]{1,128}$")
S3_LOCATION_PATTERN = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>[^\s]+/)$")
PREFIX_SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9!_.'()=+,@:-]+$")
"""What a segment of an attachment source prefix may hold: no IAM wildcard (``*``, ``?``), no policy
variable (``$``), nothing a reader could take for another path."""
MAILFLOW_BUCKET_PATTERN = re.compile(r"^mailflow-[a-z][a-z0-9]{0,15}-")
"""Buckets named like a Mailflow stack's (``mailflow-<environment>-<account>-<region>``)."""
STACK_SOURCE_PREFIX = "outbound/"

# Names that address or back the stack's own queues; an app may never claim them.
RESERVED_APP_NAMES = frozenset(
    {
        "default",
        "outbound",
        "dlq",
        "apps-dlq",
        "inbound-dlq",
        "outbound-dlq",
        "quarantine",
        "ses-events",
        "mailflow",
        "postmaster",
        "abuse",
    }
)

SES_RECEIVING_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "eu-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-south-1",
        "il-central-1",
        "me-south-1",
        "sa-east-1",
        "af-south-1",
    }
)

DEFAULT_CONFIG_NAME = "mailflow.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=True,
    )


def _normalise_domain(value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a valid domain name (for example: example.com)")
    if labels[-1].isdigit():
        raise ValueError(f"{value!r} is not a valid domain name: the last label cannot be numeric")
    return domain


class AppConfig(_Model):
    """One application: a queue, an inbound address ``_<name>@<domain>`` and its sending rights."""

    name: str
    send_as: tuple[str, ...] = Field(
        default=(), description="Extra From addresses this app may send from, beyond _<app>@<domain>."
    )
    allowed_sender_domains: tuple[str, ...] = Field(
        default=(),
        description="When set, inbound mail is delivered only from senders authenticated for one of these "
        "domains (SPF PASS for the envelope domain, or DMARC PASS for the From domain); the rest is "
        "quarantined.",
    )
    sender_principals: tuple[str, ...] = Field(
        default=(),
        description="IAM role or user ARNs allowed to send outbound mail as this app. When set, an "
        "outbound message claiming this app from any other principal is refused.",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        name = value.strip().lower()
        if not APP_PATTERN.match(name):
            raise ValueError(
                f"app name {value!r} is not valid: use 1-40 lowercase letters, digits and inner hyphens "
                "(it becomes part of an SQS queue name and of the address _<app>@<domain>)"
            )
        if name in RESERVED_APP_NAMES:
            raise ValueError(
                f"app name {name!r} is reserved for the stack's own queues; choose another name "
                f"(reserved: {', '.join(sorted(RESERVED_APP_NAMES))})"
            )
        return name

    @field_validator("send_as")
    @classmethod
    def _check_send_as(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not EMAIL_PATTERN.match(address):
                raise ValueError(f"{address!r} is not an e-mail address (for example: billing@example.com)")
        return tuple(address.lower() for address in value)

    @field_validator("sender_principals")
    @classmethod
    def _check_principals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_principal_arns(value)

    @field_validator("allowed_sender_domains")
    @classmethod
    def _check_sender_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_normalise_domain(domain) for domain in value)


def _check_principal_arns(value: tuple[str, ...]) -> tuple[str, ...]:
    for arn in value:
        if not PRINCIPAL_ARN_PATTERN.match(arn):
            raise ValueError(
                f"{arn!r} is not an IAM role or user ARN "
                "(for example: arn:aws:iam::123456789012:role/billing-service)"
            )
    return value


def _check_attachment_source(source: str) -> str:
    """One ``s3://bucket/prefix/`` location; it becomes an IAM resource ``arn:aws:s3:::bucket/prefix*``
    of the handler's role, so nothing in it may widen that grant."""
    found = S3_LOCATION_PATTERN.match(source)
    if found is None:
        raise ValueError(
            f"{source!r} is not an s3://bucket/prefix/ location: name a bucket and a prefix that "
            "ends in '/' (a whole bucket cannot be granted), for example s3://shared-files/mail/"
        )
    bucket, prefix = found["bucket"], found["prefix"]
    for segment in prefix.removesuffix("/").split("/"):
        if segment in {"", ".", ".."} or not PREFIX_SEGMENT_PATTERN.match(segment):
            raise ValueError(
                f"{source!r}: the prefix segment {segment!r} is not allowed: IAM would read wildcards "
                "(* ?) and policy variables ($) in it, and empty, '.' and '..' segments name other "
                "paths; use letters, digits and ! _ . ' ( ) = + , @ : - only"
            )
    if MAILFLOW_BUCKET_PATTERN.match(bucket) and not prefix.startswith(STACK_SOURCE_PREFIX):
        raise ValueError(
            f"{source!r} is in a Mailflow stack's bucket (mailflow-<environment>-...), where raw mail, "
            "attachments, claims and quarantine live: only locations under outbound/ may be attachment "
            "sources there (apps attach their own files from outbound/<app>/ without any entry here)"
        )
    return source


AttachmentSource = Annotated[str, AfterValidator(_check_attachment_source)]


def _coerce_app(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class StorageConfig(_Model):
    raw_retention_days: int = Field(default=7, ge=1, le=3650)
    attachment_retention_days: int = Field(default=30, ge=1, le=3650)
    quarantine_retention_days: int = Field(default=30, ge=1, le=3650)
    outbound_retention_days: int = Field(default=7, ge=1, le=3650)


class LambdaConfig(_Model):
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_seconds: int = Field(default=60, ge=5, le=900)
    architecture: Literal["arm64", "x86_64"] = "arm64"
    runtime: Literal["python3.11", "python3.12", "python3.13"] = "python3.12"
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653] = (
        30
    )
    reserved_concurrency: int | None = Field(default=None, ge=1)


class QueuesConfig(_Model):
    message_retention_days: int = Field(default=14, ge=1, le=14)
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=1_048_576)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    outbound_max_receive_count: int = Field(default=3, ge=1, le=1000)
    app_visibility_timeout_seconds: int = Field(default=300, ge=0, le=43200)


class FeedbackConfig(_Model):
    """What SES tells the sending app about its mail (issue 11): events on the app's queue."""

    send_events: bool = Field(
        default=False,
        description="Also publish SES's Send event (SES accepted the message): one more outbound.event "
        "per email on the app's queue, after outbound.status already said so.",
    )


class OutboundConfig(_Model):
    batch_size: int = Field(default=10, ge=1, le=10)
    maximum_batching_window_seconds: int = Field(default=1, ge=0, le=300)
    max_concurrency: int = Field(default=5, ge=2, le=1000)
    max_recipients: int = Field(default=50, ge=1, le=50)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=40 * 1024 * 1024)
    attachment_sources: tuple[AttachmentSource, ...] = Field(
        default=(),
        description="Extra s3://bucket/prefix/ locations apps may attach files from "
        "(the stack's own outbound/<app>/ prefix is always allowed).",
    )
    feedback: FeedbackConfig = Field(
        default=FeedbackConfig(),
        description="SES's events about sent mail, as outbound.event messages on the sending app's queue.",
    )


class ReputationConfig(_Model):
    """The account's bounce and complaint rates, in percent. SES reviews an account at a 5 % bounce or
    0.1 % complaint rate and may pause its sending at 10 % or 0.5 %."""

    bounce_warn: float = Field(default=2.0, gt=0, le=100)
    bounce_alarm: float = Field(default=4.0, gt=0, le=100)
    complaint_warn: float = Field(default=0.05, gt=0, le=100)
    complaint_alarm: float = Field(default=0.08, gt=0, le=100)

    @model_validator(mode="after")
    def _warn_before_alarm(self) -> ReputationConfig:
        for rate in ("bounce", "complaint"):
            warn, alarm = getattr(self, f"{rate}_warn"), getattr(self, f"{rate}_alarm")
            if warn > alarm:
                raise ValueError(
                    f"{rate}Warn ({warn:g} %) is above {rate}Alarm ({alarm:g} %): the warning comes first, "
                    f"so choose {rate}Warn <= {rate}Alarm"
                )
        return self


class AlarmsConfig(_Model):
    enabled: bool = True
    email: str | None = Field(default=None, description="Where alarm notifications go (SNS e-mail).")
    oldest_message_age_seconds: int = Field(default=3600, ge=60)
    error_threshold: int = Field(default=1, ge=1)
    app_queue_age: bool = False
    reputation: ReputationConfig = ReputationConfig()

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class SecurityConfig(_Model):
    require_tls: bool = True
    spam_fail: Literal["quarantine", "deliver"] = "deliver"
    dmarc_reject: Literal["quarantine", "deliver"] = "quarantine"
    virus_fail: Literal["quarantine"] = "quarantine"
    operator_principals: tuple[str, ...] = Field(
        default=(),
        description="IAM role or user ARNs that may read, redrive and purge the app queues besides the "
        "apps themselves (queue policies).",
    )

    @field_validator("operator_principals")
    @classmethod
    def _check_operators(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_principal_arns(value)


class SesConfig(_Model):
    rule_set: str | None = Field(
        default=None,
        description="Name of an existing, active receipt rule set (not Mailflow's) to add this stack's "
        "rule to.",
    )
    activate_rule_set: bool = Field(
        default=False,
        description="Replace a foreign active receipt rule set with Mailflow's. Stops that set's rules.",
    )
    rule_position: Literal["first", "last"] = Field(
        default="last",
        description="Where this stack's rule goes when it is created: after the set's last rule (its "
        "filter and stop rules run first), or first. An existing rule is not moved.",
    )


class IdempotencyConfig(_Model):
    ttl_hours: int = Field(default=24, ge=1, le=24 * 30)


class InboundConfig(_Model):
    """Bounds on the work one inbound email may cause; mail over a limit is quarantined with the reason
    (docs/handler.md, "Limits")."""

    max_parts: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="MIME parts per email; more: quarantined (too_many_parts).",
    )
    max_attachments: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Attachments per email; more: quarantined (too_many_attachments).",
    )
    max_decoded_bytes: int = Field(
        default=40 * 1024 * 1024,
        ge=1,
        description="Decoded bodies and attachments per email (bytes); more: quarantined, decoded_too_large.",
    )
    max_depth: int = Field(
        default=32, ge=1, le=100, description="MIME nesting depth; deeper: quarantined (too_deep)."
    )
    max_embedded_header_bytes: int = Field(
        default=256 * 1024,
        ge=1,
        description="Header bytes of attached messages read for their summaries, per email (then cut).",
    )


class ObservabilityConfig(_Model):
    metrics: bool = Field(
        default=False,
        description="Publish the handler's custom CloudWatch metrics (EMF; 0.30 USD per metric a month). "
        "Off: Lambda's, SQS's and SES's own metrics and the structured logs answer the same questions.",
    )


class MailflowConfig(_Model):
    """The whole file. Required: environment, region, domains, apps."""

    environment: str
    region: str
    domains: tuple[str, ...] = Field(min_length=1)
    apps: tuple[AppConfig, ...] = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    storage: StorageConfig = StorageConfig()
    lambda_: LambdaConfig = Field(default=LambdaConfig(), alias="lambda")
    queues: QueuesConfig = QueuesConfig()
    outbound: OutboundConfig = OutboundConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    security: SecurityConfig = SecurityConfig()
    ses: SesConfig = SesConfig()
    idempotency: IdempotencyConfig = IdempotencyConfig()
    inbound: InboundConfig = InboundConfig()
    observability: ObservabilityConfig = ObservabilityConfig()

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: object) -> object:
        if isinstance(value, str) and not ENVIRONMENT_PATTERN.match(value.strip()):
            raise ValueError(
                f"environment {value!r} is not valid: use 1-16 lowercase letters and digits, "
                "starting with a letter (for example: dev, staging, prod2)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if not REGION_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (for example: eu-west-1)")
        return value

    @field_validator("domains", mode="before")
    @classmethod
    def _normalise_domains(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(_normalise_domain(d) if isinstance(d, str) else d for d in value)
        return value

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _reject_duplicates(value, "domain")
        return value

    @field_validator("apps", mode="before")
    @classmethod
    def _coerce_apps(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(_coerce_app(item) for item in value)
        return value

    @field_validator("apps")
    @classmethod
    def _unique_apps(cls, value: tuple[AppConfig, ...]) -> tuple[AppConfig, ...]:
        _reject_duplicates([app.name for app in value], "app")
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if not TAG_KEY_PATTERN.match(key) or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} is not allowed (1-128 characters, not starting with aws:)")
            if key.lower().startswith("mailflow:"):
                raise ValueError(f"tag key {key!r} is reserved: Mailflow sets mailflow:* tags itself")
            if len(tag_value) > 256:
                raise ValueError(f"tag {key!r}: the value is longer than 256 characters")
        if len(value) > 40:
            raise ValueError(
                "at most 40 user tags are allowed (AWS allows 50 per resource; Mailflow uses some)"
            )
        return value

    @model_validator(mode="after")
    def _check_send_as_domains(self) -> MailflowConfig:
        for app in self.apps:
            for address in app.send_as:
                domain = address.rsplit("@", 1)[1]
                if domain not in self.domains:
                    raise ValueError(
                        f"apps[{app.name}].sendAs: {address!r} is not in one of the configured domains "
                        f"({', '.join(self.domains)})"
                    )
        return self

    @property
    def app_names(self) -> tuple[str, ...]:
        return tuple(app.name for app in self.apps)

    def app(self, name: str) -> AppConfig | None:
        return next((app for app in self.apps if app.name == name.lower()), None)


def _reject_duplicates(values: list[str] | tuple[str, ...], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice (names are compared in lowercase)")
        seen.add(value)


@dataclass(frozen=True)
class LoadedConfig:
    config: MailflowConfig
    path: Path


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    from_env = env.get("MAILFLOW_CONFIG")
    return Path(from_env) if from_env else Path(DEFAULT_CONFIG_NAME)


def load_config(path: Path) -> MailflowConfig:
    """Read and validate ``path``; raise :class:`ConfigError` naming every problem and its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file",
            hint="create one with `mailflow init`, or pass -c/--config (or set MAILFLOW_CONFIG)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> MailflowConfig:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if data is None:
        raise ConfigError(f"{source}: the file is empty", hint="see mailflow.yaml.example for the keys")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (environment, region, ...)")
    lines = _line_index(node)
    try:
        return MailflowConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, source, lines) for error in exc.errors()]
        raise ConfigError(
            f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the configuration",
            details=problems,
            hint="see mailflow.yaml.example for every key and its accepted values",
        ) from None


def _line_index(node: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    index: dict[tuple[str | int, ...], int] = {}

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                key = key_node.value
                walk(value_node, (*path, key))
                index[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for position, item in enumerate(current.value):
                walk(item, (*path, position))

    if node is not None:
        walk(node, ())
    return index


def _describe(error: Any, source: str, lines: dict[tuple[str | int, ...], int]) -> str:
    location = tuple(part for part in error["loc"] if part not in ("function-after", "function-before"))
    path = _format_path(location)
    line = None
    for cut in range(len(location), -1, -1):
        line = lines.get(tuple(location[:cut]))
        if line is not None:
            break
    where = f"{source}:{line}" if line is not None else source
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {location[-1]!r}" + _suggestion(location)
    elif error["type"] == "missing":
        message = "this required key is missing"
    return f"{where}: {path or '(top level)'}: {message}"


def _format_path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_KNOWN_KEYS = {
    "environment",
    "region",
    "domains",
    "apps",
    "tags",
    "storage",
    "lambda",
    "queues",
    "outbound",
    "alarms",
    "security",
    "ses",
    "idempotency",
    "inbound",
    "observability",
}


def _suggestion(location: tuple[Any, ...]) -> str:
    import difflib

    if len(location) != 1:
        return ""
    close = difflib.get_close_matches(str(location[0]), sorted(_KNOWN_KEYS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
