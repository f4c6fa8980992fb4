"""The handler Lambda function. Routing lives in the zip's mailflow_config.json, not in env vars."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources.common import comparable_tags, tags_for
from mailflow_cli.deploy.resources.log_group import LogGroupSpec
from mailflow_cli.deploy.resources.queues import QueueSpec
from mailflow_cli.deploy.resources.role import RoleSpec
from mailflow_cli.naming import HANDLER_STRING, StackNames
from mailflow_cli.packaging import LambdaBundle


@dataclass(frozen=True)
class FunctionSpec(Resource):
    kind: ClassVar[str] = "lambda-function"
    arn: str
    role_arn: str
    runtime: str
    architecture: str
    memory_mb: int
    timeout_seconds: int
    handler: str
    environment: Mapping[str, str]
    dead_letter_arn: str
    reserved_concurrency: int | None
    code_sha256: str
    tags: Mapping[str, str]
    dependencies: tuple[str, ...]
    zip_bytes: bytes = field(default=b"", repr=False, compare=False)

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def configuration(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "architectures": [self.architecture],
            "memorySize": self.memory_mb,
            "timeout": self.timeout_seconds,
            "handler": self.handler,
            "role": self.role_arn,
            "environment": dict(sorted(self.environment.items())),
            "deadLetterTargetArn": self.dead_letter_arn,
        }

    def attributes(self) -> dict[str, Any]:
        return {
            **self.configuration(),
            "reservedConcurrency": self.reserved_concurrency,
            "codeSha256": self.code_sha256,
            "tags": comparable_tags(self.tags),
        }


CONFIGURATION_ATTRIBUTES = frozenset(
    {"runtime", "memorySize", "timeout", "handler", "role", "environment", "deadLetterTargetArn"}
)


def environment(config: MailflowConfig) -> dict[str, str]:
    """Fixed-size variables only (docs/runtime-config.md): nothing here grows with the number of apps."""
    return {
        "MAILFLOW_ENVIRONMENT": config.environment,
        "MAILFLOW_LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "mailflow",
        "POWERTOOLS_METRICS_NAMESPACE": "Mailflow",
    }


def function(
    config: MailflowConfig,
    names: StackNames,
    bundle: LambdaBundle,
    *,
    role: RoleSpec,
    log_group: LogGroupSpec,
    inbound_dlq: QueueSpec,
) -> FunctionSpec:
    settings = config.lambda_
    return FunctionSpec(
        name=names.function,
        arn=names.function_arn,
        role_arn=role.arn,
        runtime=settings.runtime,
        architecture=settings.architecture,
        memory_mb=settings.memory_mb,
        timeout_seconds=settings.timeout_seconds,
        handler=HANDLER_STRING,
        environment=environment(config),
        dead_letter_arn=names.queue_arn(inbound_dlq.name),
        reserved_concurrency=settings.reserved_concurrency,
        code_sha256=bundle.sha256,
        tags=tags_for(config, "handler"),
        dependencies=(role.key, log_group.key, inbound_dlq.key),
        zip_bytes=bundle.zip_bytes,
    )


@dataclass(frozen=True)
class AttachedToFunction(Resource):
    """A resource that hangs off the function and cannot carry tags: it follows the function's owner."""

    function_name: str
    dependencies: tuple[str, ...]

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def owned_through(self) -> str:
        return f"{FunctionSpec.kind}:{self.function_name}"
