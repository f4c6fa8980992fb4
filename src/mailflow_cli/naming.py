"""Deterministic names for every resource of a stack.

No state file is kept: a stack is found again by these names plus its ownership tags, so any machine
(a laptop, CI) that deploys the same config to the same account and region converges on one stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailflow_cli.config import MailflowConfig

TAG_MANAGED_BY = "mailflow:managed-by"
TAG_ENVIRONMENT = "mailflow:environment"
TAG_COMPONENT = "mailflow:component"
MANAGED_BY_VALUE = "mailflow"

SHARED_RULE_SET = "mailflow-receipt-rules"
SES_PERMISSION_SID = "mailflow-ses-invoke"
HANDLER_STRING = "mailflow_handler.handler"

RAW_PREFIX = "raw/"
ATTACHMENTS_PREFIX = "attachments/"
QUARANTINE_PREFIX = "quarantine/"
CLAIMS_PREFIX = "claims/"
OUTBOUND_PREFIX = "outbound/"
RAW_COPIES_PREFIX = "raw-copies/"

DEFAULT_TARGET = "default"
"""The reserved app name of the default queue's target (raw-object tags, per-app prefixes)."""
APP_TAG_PREFIX = "mailflow:app:"
BOUNDARY_PATH = "/mailflow/"


def app_tag_key(app: str) -> str:
    """The raw object's tag that grants ``app`` (or ``default``) read access to it (contract C1)."""
    return f"{APP_TAG_PREFIX}{app}"


@dataclass(frozen=True)
class StackNames:
    environment: str
    region: str
    account_id: str

    @property
    def prefix(self) -> str:
        return f"mailflow-{self.environment}"

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-{self.account_id}-{self.region}"

    def app_queue(self, app: str) -> str:
        return f"{self.prefix}-app-{app}"

    @property
    def default_queue(self) -> str:
        return f"{self.prefix}-default"

    @property
    def outbound_queue(self) -> str:
        return f"{self.prefix}-outbound"

    @property
    def apps_dlq(self) -> str:
        return f"{self.prefix}-apps-dlq"

    @property
    def outbound_dlq(self) -> str:
        return f"{self.prefix}-outbound-dlq"

    @property
    def inbound_dlq(self) -> str:
        return f"{self.prefix}-inbound-dlq"

    @property
    def events_queue(self) -> str:
        """SES's feedback events for sent mail, from the events topic (contract E)."""
        return f"{self.prefix}-ses-events"

    @property
    def events_dlq(self) -> str:
        return f"{self.prefix}-ses-events-dlq"

    @property
    def handler_dead_letter_queues(self) -> tuple[str, ...]:
        """The dead-letter queues the handler writes to itself (besides SQS's redrive)."""
        return (self.apps_dlq, self.outbound_dlq, self.inbound_dlq)

    @property
    def dead_letter_queues(self) -> tuple[str, ...]:
        """Every dead-letter queue; only SQS's redrive writes the events DLQ."""
        return (*self.handler_dead_letter_queues, self.events_dlq)

    @property
    def table(self) -> str:
        return f"{self.prefix}-idempotency"

    @property
    def role(self) -> str:
        return f"{self.prefix}-handler"

    @property
    def role_policy(self) -> str:
        return f"{self.prefix}-handler-policy"

    @property
    def boundary_policy(self) -> str:
        return f"{self.prefix}-handler-boundary"

    @property
    def function(self) -> str:
        return f"{self.prefix}-handler"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def topic(self) -> str:
        return f"{self.prefix}-alarms"

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}-ses-events"

    @property
    def configuration_set(self) -> str:
        """Every SES send of the handler names it; it publishes the feedback events (contract E)."""
        return self.prefix

    @property
    def receipt_rule(self) -> str:
        return f"{self.prefix}-inbound"

    @property
    def name_prefix(self) -> str:
        """Every queue and alarm of this stack, and none of another environment, starts with this."""
        return f"{self.prefix}-"

    def alarm(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    # ARNs -----------------------------------------------------------------------------------
    def queue_arn(self, queue_name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{queue_name}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{self.table}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.role}"

    @property
    def boundary_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:policy{BOUNDARY_PATH}{self.boundary_policy}"

    @property
    def log_group_arn(self) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{self.log_group}"

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{self.topic}"

    @property
    def events_topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{self.events_topic}"

    @property
    def configuration_set_arn(self) -> str:
        return f"arn:aws:ses:{self.region}:{self.account_id}:configuration-set/{self.configuration_set}"

    def receipt_rule_arn(self, rule_set: str) -> str:
        return (
            f"arn:aws:ses:{self.region}:{self.account_id}:receipt-rule-set/{rule_set}"
            f":receipt-rule/{self.receipt_rule}"
        )


def stack_names(config: MailflowConfig, account_id: str) -> StackNames:
    return StackNames(environment=config.environment, region=config.region, account_id=account_id)


def ownership_tags(config: MailflowConfig, component: str) -> dict[str, str]:
    """The tags every resource carries: the user's, then Mailflow's (which the user cannot override)."""
    return {
        **config.tags,
        TAG_MANAGED_BY: MANAGED_BY_VALUE,
        TAG_ENVIRONMENT: config.environment,
        TAG_COMPONENT: component,
    }


def is_owned(tags: dict[str, str], environment: str) -> bool:
    return tags.get(TAG_MANAGED_BY) == MANAGED_BY_VALUE and tags.get(TAG_ENVIRONMENT) == environment
