"""The whole stack as it should be: a pure function of the config, the stack's names and the built zip."""

from __future__ import annotations

from dataclasses import dataclass

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.deploy.resources import (
    alarms,
    boundary,
    bucket,
    configuration_set,
    event_source,
    function,
    log_group,
    permission,
    queues,
    receipt_rule,
    role,
    table,
    topic,
)
from mailflow_cli.deploy.resources.common import check_attachment_sources
from mailflow_cli.naming import StackNames
from mailflow_cli.packaging import LambdaBundle


@dataclass(frozen=True)
class DesiredStack:
    resources: tuple[Resource, ...]

    def by_key(self) -> dict[str, Resource]:
        return {resource.key: resource for resource in self.resources}


def desired_stack(config: MailflowConfig, names: StackNames, bundle: LambdaBundle) -> DesiredStack:
    check_attachment_sources(config, names)
    rule_set = receipt_rule.rule_set(config)
    stack_bucket = bucket.bucket(config, names, rule_set.name)
    stack_queues = queues.queues(config, names)
    by_name = {queue.name: queue for queue in stack_queues}
    stack_table = table.table(config, names)
    handler_boundary = boundary.boundary(config, names)
    stack_role = role.role(config, names, handler_boundary)
    stack_logs = log_group.log_group(config, names)
    handler = function.function(
        config,
        names,
        bundle,
        role=stack_role,
        log_group=stack_logs,
        inbound_dlq=by_name[names.inbound_dlq],
    )
    mapping = event_source.event_source(
        config, names, function=handler, outbound=by_name[names.outbound_queue]
    )
    events_mapping = event_source.events_source(
        names, function=handler, events=by_name[names.events_queue], role_key=stack_role.key
    )
    ses_permission = permission.ses_permission(names, rule_set.name, function=handler)
    rule = receipt_rule.receipt_rule(
        config,
        names,
        rule_set=rule_set,
        depends_on=(stack_bucket.key, handler.key, ses_permission.key),
    )
    events_topic = topic.events_topic(config, names, by_name[names.events_queue])
    sending = configuration_set.configuration_set(config, names)
    destination = configuration_set.event_destination(config, sending, events_topic)
    alarm_topic = topic.topic(config, names)
    stack_alarms = alarms.alarms(config, names, alarm_topic)
    resources: list[Resource] = [
        stack_bucket,
        *stack_queues,
        stack_table,
        handler_boundary,
        stack_role,
        stack_logs,
        handler,
        mapping,
        events_mapping,
        ses_permission,
        rule_set,
        rule,
        events_topic,
        sending,
        destination,
    ]
    if alarm_topic is not None:
        resources.append(alarm_topic)
    resources.extend(stack_alarms)
    return DesiredStack(tuple(resources))
