"""Lambda: the handler function, its code (uploaded only when the sha256 differs) and configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.deploy.handlers.base import ResourceHandler, missing, tag_delta
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.function import CONFIGURATION_ATTRIBUTES, FunctionSpec
from mailflow_cli.deploy.retry import FUNCTION_BUSY, ROLE_NOT_ASSUMABLE


class FunctionHandler(ResourceHandler[FunctionSpec]):
    resource_type = FunctionSpec

    def discover(self, resource: FunctionSpec) -> Observed | None:
        try:
            found = self.client("lambda").get_function(FunctionName=resource.name)
        except ClientError as exc:
            if missing(exc, "ResourceNotFoundException"):
                return None
            raise
        tags = found.get("Tags", {})
        configuration = found["Configuration"]
        return Observed(
            {
                "runtime": configuration.get("Runtime"),
                "architectures": configuration.get("Architectures", ["x86_64"]),
                "memorySize": configuration.get("MemorySize"),
                "timeout": configuration.get("Timeout"),
                "handler": configuration.get("Handler"),
                "role": configuration.get("Role"),
                "environment": dict(
                    sorted(configuration.get("Environment", {}).get("Variables", {}).items())
                ),
                "deadLetterTargetArn": configuration.get("DeadLetterConfig", {}).get("TargetArn"),
                "reservedConcurrency": found.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
                "codeSha256": configuration.get("CodeSha256"),
                "tags": comparable_tags(tags),
            },
            owned=self.owns(tags),
            handle={"arn": configuration.get("FunctionArn", resource.arn)},
        )

    def _configuration(self, resource: FunctionSpec) -> dict[str, Any]:
        return {
            "Runtime": resource.runtime,
            "Role": resource.role_arn,
            "Handler": resource.handler,
            "Timeout": resource.timeout_seconds,
            "MemorySize": resource.memory_mb,
            "Environment": {"Variables": dict(resource.environment)},
            "DeadLetterConfig": {"TargetArn": resource.dead_letter_arn},
        }

    def _wait(self, resource: FunctionSpec, waiter: str, what: str, gave_up: str, step: StepReporter) -> None:
        self.services.retry.wait_for(
            self.client("lambda"),
            waiter,
            waiting=step.waiting,
            what=what,
            gave_up=gave_up,
            FunctionName=resource.name,
        )

    def _put_concurrency(self, resource: FunctionSpec, concurrency: int, step: StepReporter) -> None:
        lambda_ = self.client("lambda")
        self.services.retry.call(
            lambda: lambda_.put_function_concurrency(
                FunctionName=resource.name, ReservedConcurrentExecutions=concurrency
            ),
            when=FUNCTION_BUSY,
            waiting=step.waiting,
        )

    def create(self, resource: FunctionSpec, step: StepReporter) -> Mapping[str, Any]:
        lambda_ = self.client("lambda")
        created = self.services.retry.call(
            lambda: lambda_.create_function(
                FunctionName=resource.name,
                Code={"ZipFile": resource.zip_bytes},
                Architectures=[resource.architecture],
                Tags=dict(resource.tags),
                Publish=False,
                **self._configuration(resource),
            ),
            when=(ROLE_NOT_ASSUMABLE, FUNCTION_BUSY),
            waiting=step.waiting,
        )
        if created.get("State") != "Active":  # AWS answers Pending; no poll for a state already reported
            self._wait(
                resource,
                "function_active_v2",
                "the function to become Active",
                "the function is still not Active",
                step,
            )
        if resource.reserved_concurrency is not None:
            self._put_concurrency(resource, resource.reserved_concurrency, step)
        return {"arn": created.get("FunctionArn", resource.arn)}

    def update(
        self, resource: FunctionSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        lambda_ = self.client("lambda")
        if changed & CONFIGURATION_ATTRIBUTES:
            self.services.retry.call(
                lambda: lambda_.update_function_configuration(
                    FunctionName=resource.name, **self._configuration(resource)
                ),
                when=(FUNCTION_BUSY, ROLE_NOT_ASSUMABLE),
                waiting=step.waiting,
            )
            self._wait(
                resource,
                "function_updated_v2",
                "the configuration update to finish",
                "the configuration update is still InProgress",
                step,
            )
        if changed & {"codeSha256", "architectures"}:
            self.services.retry.call(
                lambda: lambda_.update_function_code(
                    FunctionName=resource.name,
                    ZipFile=resource.zip_bytes,
                    Architectures=[resource.architecture],
                ),
                when=FUNCTION_BUSY,
                waiting=step.waiting,
            )
            self._wait(
                resource,
                "function_updated_v2",
                "the code update to finish",
                "the code update is still InProgress",
                step,
            )
        if "reservedConcurrency" in changed:
            if resource.reserved_concurrency is None:
                lambda_.delete_function_concurrency(FunctionName=resource.name)
            else:
                self._put_concurrency(resource, resource.reserved_concurrency, step)
        if "tags" in changed:
            arn = observed.handle["arn"]
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                lambda_.tag_resource(Resource=arn, Tags=to_set)
            if to_remove:
                lambda_.untag_resource(Resource=arn, TagKeys=to_remove)

    def delete(self, resource: FunctionSpec, observed: Observed, step: StepReporter) -> None:
        self.client("lambda").delete_function(FunctionName=resource.name)
