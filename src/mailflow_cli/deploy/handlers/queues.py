"""SQS queues, found by name; app queues of apps no longer configured are strays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.deploy.handlers.base import ResourceHandler, missing, paginate, tag_delta
from mailflow_cli.deploy.model import Observed
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.queues import MANAGED_QUEUE_ATTRIBUTES, QueueSpec

_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
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
    resource_type = QueueSpec

    def discover(self, resource: QueueSpec) -> Observed | None:
        sqs = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=resource.name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except ClientError as exc:
            if missing(exc, *_MISSING):
                return None
            raise
        messages = sum(int(attributes.get(name, 0)) for name in _MESSAGE_COUNTS)
        observed = {name: attributes.get(name) for name in MANAGED_QUEUE_ATTRIBUTES}
        observed["RedrivePolicy"] = _redrive(attributes.get("RedrivePolicy"))
        observed["tags"] = comparable_tags(tags)
        return Observed(observed, owned=self.owns(tags), handle={"url": url, "messages": messages})

    def strays(self, desired: Sequence[QueueSpec]) -> Sequence[QueueSpec]:
        wanted = {queue.name for queue in desired}
        prefix = self.names.app_queue("")
        urls = paginate(self.client("sqs"), "list_queues", "QueueUrls", QueueNamePrefix=prefix)
        found = sorted({url.rsplit("/", 1)[-1] for url in urls})
        return [QueueSpec(name=name) for name in found if name.startswith(prefix) and name not in wanted]

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
        return selected

    def create(self, resource: QueueSpec, step: StepReporter) -> None:
        self.client("sqs").create_queue(
            QueueName=resource.name, Attributes=self._attributes(resource), tags=dict(resource.tags)
        )

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
