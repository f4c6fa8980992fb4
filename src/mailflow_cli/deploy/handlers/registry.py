"""Which handler applies to which resource description: keyed by the description's type."""

from __future__ import annotations

from typing import Any

from mailflow_cli.access import Access, Scopes
from mailflow_cli.deploy.handlers.alarms import AlarmHandler
from mailflow_cli.deploy.handlers.base import ResourceHandler, Services
from mailflow_cli.deploy.handlers.boundary import BoundaryHandler
from mailflow_cli.deploy.handlers.bucket import BucketHandler
from mailflow_cli.deploy.handlers.configuration_set import ConfigurationSetHandler, EventDestinationHandler
from mailflow_cli.deploy.handlers.event_source import EventSourceHandler
from mailflow_cli.deploy.handlers.function import FunctionHandler
from mailflow_cli.deploy.handlers.log_group import LogGroupHandler
from mailflow_cli.deploy.handlers.permission import PermissionHandler
from mailflow_cli.deploy.handlers.queues import QueueHandler
from mailflow_cli.deploy.handlers.receipt_rule import ReceiptRuleHandler, RuleSetHandler
from mailflow_cli.deploy.handlers.role import RoleHandler
from mailflow_cli.deploy.handlers.table import TableHandler
from mailflow_cli.deploy.handlers.topic import TopicHandler
from mailflow_cli.deploy.model import Resource

HANDLER_CLASSES: tuple[type[ResourceHandler[Any]], ...] = (
    BucketHandler,
    QueueHandler,
    TableHandler,
    BoundaryHandler,
    RoleHandler,
    LogGroupHandler,
    FunctionHandler,
    EventSourceHandler,
    PermissionHandler,
    RuleSetHandler,
    ReceiptRuleHandler,
    TopicHandler,
    ConfigurationSetHandler,
    EventDestinationHandler,
    AlarmHandler,
)

SERVICES = ("s3", "sqs", "dynamodb", "iam", "logs", "lambda", "ses", "sesv2", "sns", "cloudwatch")
"""The AWS services the handlers call."""


def handler_permissions(scopes: Scopes) -> list[Access]:
    """Every handler's declared permissions, in handler order."""
    return [cls.permissions(scopes) for cls in HANDLER_CLASSES]


class HandlerRegistry:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._handlers: dict[type[Resource], ResourceHandler[Any]] = {
            cls.resource_type: cls(services) for cls in HANDLER_CLASSES
        }

    def for_resource(self, resource: Resource) -> ResourceHandler[Any]:
        return self._handlers[type(resource)]

    def items(self) -> list[tuple[type[Resource], ResourceHandler[Any]]]:
        return list(self._handlers.items())
