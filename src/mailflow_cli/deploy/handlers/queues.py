"""SQS queues, found by name; app queues of apps no longer configured are strays."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.aws import MISSING_QUEUE_CODES
from mailflow_cli.deploy.handlers.base import (
    Discovery,
    ResourceHandler,
    fan_out,
    missing,
    paginate,
    tag_delta,
)
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.policy import normalise_policy, policy_json
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.queues import MANAGED_QUEUE_ATTRIBUTES, QueueSpec
from mailflow_cli.deploy.retry import QUEUE_DELETED_RECENTLY

LIST_QUEUES_PAGE = 1000  # ListQueues returns a NextToken only when MaxResults (1-1000) is given
_MESSAGE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def _redrive(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    policy = json.loads(text)
    return {
        "deadLetterTargetArn": policy["deadLetterTargetArn"],
        "maxReceiveCount": int(policy["maxReceiveCount"]),
    }


class QueueHandler(ResourceHandler[QueueSpec]):
    """Discovery lists the stack's queues once (``ListQueues`` by name prefix: existence and URL), then
    reads attributes and tags of the queues that exist, concurrently; no per-queue ``GetQueueUrl``."""

    resource_type = QueueSpec

    def _listed(self, prefix: str) -> dict[str, str]:
        """Queue name -> URL of every queue whose name starts with ``prefix`` (all pages)."""
        urls = paginate(
            self.client("sqs"),
            "list_queues",
            "QueueUrls",
            QueueNamePrefix=prefix,
            PaginationConfig={"PageSize": LIST_QUEUES_PAGE},
        )
        return {str(url).rsplit("/", 1)[-1]: str(url) for url in urls}

    def _describe(self, url: str) -> Observed | None:
        sqs = self.client("sqs")
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except ClientError as exc:
            if missing(exc, *MISSING_QUEUE_CODES):  # deleted since it was listed
                return None
            raise
        messages = sum(int(attributes.get(name, 0)) for name in _MESSAGE_COUNTS)
        observed = {name: attributes.get(name) for name in MANAGED_QUEUE_ATTRIBUTES}
        observed["RedrivePolicy"] = _redrive(attributes.get("RedrivePolicy"))
        observed["Policy"] = normalise_policy(attributes.get("Policy") or None)
        observed["tags"] = comparable_tags(tags)
        return Observed(observed, owned=self.owns(tags), handle={"url": url, "messages": messages})

    def discover(self, resource: QueueSpec) -> Observed | None:
        url = self._listed(resource.name).get(resource.name)
        return None if url is None else self._describe(url)

    def discover_all(self, desired: Sequence[QueueSpec]) -> Discovery[QueueSpec]:
        prefix = self.names.name_prefix
        listed = self._listed(prefix)
        wanted = {queue.name for queue in desired}
        app_prefix = self.names.app_queue("")
        strays = tuple(
            QueueSpec(name=name)
            for name in sorted(listed)
            if name.startswith(app_prefix) and name not in wanted
        )
        resources = [*desired, *strays]

        def observe(queue: QueueSpec) -> Observed | None:
            if not queue.name.startswith(prefix):  # not covered by the listing
                return self.discover(queue)
            url = listed.get(queue.name)
            return None if url is None else self._describe(url)

        found = fan_out(observe, resources)
        return Discovery({q.key: o for q, o in zip(resources, found, strict=True)}, strays)

    def holds_data(self, observed: Observed) -> str | None:
        messages = int(observed.handle.get("messages", 0))
        return f"still holds {messages} message{'s' if messages != 1 else ''}" if messages else None

    def _attributes(self, resource: QueueSpec, names: frozenset[str] | None = None) -> dict[str, str]:
        selected = {key: value for key, value in resource.settings.items() if names is None or key in names}
        redrive = resource.redrive_policy()
        if names is None or "RedrivePolicy" in names:
            selected["RedrivePolicy"] = json.dumps(redrive) if redrive else ""
        if names is None and not redrive:
            selected.pop("RedrivePolicy")
        if (names is None and resource.policy is not None) or (names is not None and "Policy" in names):
            selected["Policy"] = policy_json(dict(resource.policy)) if resource.policy is not None else ""
        return selected

    def create(self, resource: QueueSpec, step: StepReporter) -> Mapping[str, Any]:
        sqs = self.client("sqs")
        created = self.services.retry.call(
            lambda: sqs.create_queue(
                QueueName=resource.name, Attributes=self._attributes(resource), tags=dict(resource.tags)
            ),
            when=QUEUE_DELETED_RECENTLY,
            waiting=step.waiting,
        )
        return {"url": created["QueueUrl"]}

    def update(
        self, resource: QueueSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        sqs = self.client("sqs")
        url = observed.handle["url"]
        attributes = self._attributes(resource, changed)
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                sqs.tag_queue(QueueUrl=url, Tags=to_set)
            if to_remove:
                sqs.untag_queue(QueueUrl=url, TagKeys=to_remove)

    def delete(self, resource: QueueSpec, observed: Observed, step: StepReporter) -> None:
        self.client("sqs").delete_queue(QueueUrl=observed.handle["url"])
