"""SES inbound: the receipt rule set (one active per account and region) and this stack's rule in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow_cli.config import MailflowConfig
from mailflow_cli.deploy.model import Resource
from mailflow_cli.naming import RAW_PREFIX, SHARED_RULE_SET, StackNames


@dataclass(frozen=True)
class RuleSetSpec(Resource):
    """``managed``: Mailflow's shared set, created and deleted by Mailflow. Otherwise a set the user named."""

    kind: ClassVar[str] = "ses-rule-set"
    managed: bool
    may_replace_active: bool

    def attributes(self) -> dict[str, Any]:
        return {"active": True}


@dataclass(frozen=True)
class ReceiptRuleSpec(Resource):
    """``name`` is ``<rule set>/<rule>``: the same rule name may exist in two sets."""

    kind: ClassVar[str] = "ses-receipt-rule"
    rule_name: str
    rule_set: str
    recipients: tuple[str, ...]
    tls_policy: str
    bucket: str
    object_key_prefix: str
    function_arn: str
    dependencies: tuple[str, ...]
    position: str = "last"
    """Where the rule goes when it is created (``ses.rulePosition``); an existing rule is not moved."""

    def depends_on(self) -> tuple[str, ...]:
        return self.dependencies

    def rule(self) -> dict[str, Any]:
        return {
            "Name": self.rule_name,
            "Enabled": True,
            "TlsPolicy": self.tls_policy,
            "Recipients": list(self.recipients),
            "ScanEnabled": True,
            "Actions": [
                {"S3Action": {"BucketName": self.bucket, "ObjectKeyPrefix": self.object_key_prefix}},
                {"LambdaAction": {"FunctionArn": self.function_arn, "InvocationType": "Event"}},
            ],
        }

    def attributes(self) -> dict[str, Any]:
        return normalise_rule(self.rule())


def normalise_rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": bool(rule.get("Enabled", False)),
        "tlsPolicy": rule.get("TlsPolicy", "Optional"),
        "recipients": sorted(rule.get("Recipients", [])),
        "scanEnabled": bool(rule.get("ScanEnabled", False)),
        "actions": [
            {kind: dict(sorted(body.items())) for kind, body in action.items()}
            for action in rule.get("Actions", [])
        ],
    }


def covers(recipient: str, domain: str) -> bool:
    """Whether an SES rule recipient matches mail to some address at ``domain``: an address matches
    that address, a domain matches its own addresses, and ``.domain`` matches those of its subdomains."""
    claimed = recipient.strip().lower().rstrip(".")
    if claimed.startswith("."):
        return domain.endswith(claimed)
    return claimed.rpartition("@")[2] == domain


def claimed_domains(domains: tuple[str, ...], rule: dict[str, Any]) -> list[tuple[str, str]]:
    """(domain, the rule's recipient that covers it) for each of ``domains`` the rule also receives.
    A rule without recipients receives the mail of every verified domain."""
    recipients = rule.get("Recipients") or []
    if not recipients:
        return [(domain, "no recipients: every address") for domain in domains]
    return [
        (domain, recipient) for domain in domains for recipient in recipients if covers(recipient, domain)
    ]


def target_rule_set(config: MailflowConfig) -> str:
    return config.ses.rule_set or SHARED_RULE_SET


def rule_set(config: MailflowConfig) -> RuleSetSpec:
    name = target_rule_set(config)
    return RuleSetSpec(
        name=name,
        managed=name == SHARED_RULE_SET,
        may_replace_active=config.ses.activate_rule_set,
    )


def receipt_rule(
    config: MailflowConfig, names: StackNames, *, rule_set: RuleSetSpec, depends_on: tuple[str, ...]
) -> ReceiptRuleSpec:
    return ReceiptRuleSpec(
        name=f"{rule_set.name}/{names.receipt_rule}",
        rule_name=names.receipt_rule,
        rule_set=rule_set.name,
        recipients=tuple(sorted(config.domains)),
        tls_policy="Require" if config.security.require_tls else "Optional",
        bucket=names.bucket,
        object_key_prefix=RAW_PREFIX,
        function_arn=names.function_arn,
        dependencies=(rule_set.key, *depends_on),
        position=config.ses.rule_position,
    )
