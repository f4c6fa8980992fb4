"""mailflow.yaml is validated before any AWS call: every problem names its key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow_cli.config import MailflowConfig, load_config, parse_config
from mailflow_cli.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
VALID = """\
environment: dev
region: eu-west-1
domains:
  - example.com
apps:
  - app1
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "mailflow.yaml")
    assert raised.value.exit_code == 2
    return [raised.value.message, *raised.value.details]


def test_the_example_config_is_valid() -> None:
    config = load_config(REPO / "mailflow.yaml.example")
    assert config.environment == "dev"
    assert config.app_names == ("app1", "app2")
    assert config.lambda_.architecture == "arm64"


def test_defaults_are_filled_in() -> None:
    config = parse_config(VALID)
    assert isinstance(config, MailflowConfig)
    assert config.storage.raw_retention_days == 7
    assert config.queues.max_message_bytes == 1_048_576
    assert config.alarms.email is None
    assert config.ses.rule_set is None
    assert config.ses.activate_rule_set is False


def test_a_typo_in_a_key_is_an_error_with_its_line_and_a_suggestion() -> None:
    found = problems(VALID.replace("apps:\n  - app1\n", "apps:\n  - app1\napp:\n  - app2\n"))
    assert any("mailflow.yaml:7: app: unknown key 'app' (did you mean 'apps'?)" in p for p in found)


def test_unknown_nested_key_is_rejected() -> None:
    found = problems(VALID + "storage:\n  rawRetentionDay: 3\n")
    assert any("mailflow.yaml:8: storage.rawRetentionDay: unknown key" in p for p in found)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("apps:\n  - app1\n  - APP1\n", "app 'app1' is listed twice"),
        ("apps:\n  - default\n", "app name 'default' is reserved"),
        ("apps:\n  - outbound\n", "reserved"),
        ("apps:\n  - bad_name\n", "is not valid"),
        ("apps:\n  - -leading\n", "is not valid"),
        ("apps: []\n", "apps"),
    ],
)
def test_bad_apps(snippet: str, expected: str) -> None:
    text = VALID.replace("apps:\n  - app1\n", snippet)
    found = problems(text)
    assert any(expected in p for p in found), found
    assert any(":5: apps" in p or ":6: apps" in p or ":7: apps" in p for p in found), found


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("domains:\n  - example.com\n  - EXAMPLE.com\n", "domain 'example.com' is listed twice"),
        ("domains:\n  - not a domain\n", "is not a valid domain name"),
        ("domains:\n  - localhost\n", "is not a valid domain name"),
        ("domains:\n  - example.123\n", "last label cannot be numeric"),
        ("domains: []\n", "domains"),
        ("domains: example.com\n", "domains"),
    ],
)
def test_bad_domains(snippet: str, expected: str) -> None:
    found = problems(VALID.replace("domains:\n  - example.com\n", snippet))
    assert any(expected in p for p in found), found
    assert any("mailflow.yaml:3: domains" in p or "mailflow.yaml:4: domains" in p for p in found), found


def test_uppercase_names_are_normalised() -> None:
    config = parse_config(VALID.replace("example.com", "Example.COM").replace("app1", "App1"))
    assert config.domains == ("example.com",)
    assert config.app_names == ("app1",)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("lambda:\n  memoryMb: lots\n", "mailflow.yaml:8: lambda.memoryMb: Input should be a valid integer"),
        ("lambda:\n  architecture: sparc\n", "lambda.architecture"),
        ("queues:\n  maxReceiveCount: 0\n", "queues.maxReceiveCount"),
        ("alarms:\n  email: not-an-email\n", "is not an e-mail address"),
        ("tags:\n  mailflow:owner: me\n", "is reserved"),
        ("ses:\n  activateRuleSet: maybe\n", "ses.activateRuleSet"),
    ],
)
def test_wrong_types_and_values(snippet: str, expected: str) -> None:
    found = problems(VALID + snippet)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("environment: [\n", "not valid YAML"),
        (
            "region: eu-west-1\ndomains: [example.com]\napps: [a]\n",
            "environment: this required key is missing",
        ),
        (VALID.replace("environment: dev", "environment: Dev-1"), "environment 'Dev-1' is not valid"),
        (VALID.replace("eu-west-1", "moon-1"), "is not an AWS region name"),
    ],
)
def test_file_level_problems(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize("location", ["s3://shared-files", "s3://shared-files/", "s3://shared-files/mail"])
def test_an_attachment_source_must_name_a_prefix_ending_in_a_slash(location: str) -> None:
    found = problems(VALID + f"outbound:\n  attachmentSources: [{location}]\n")
    assert any("outbound.attachmentSources" in p and "ends in '/'" in p for p in found)


def test_an_attachment_source_with_a_prefix_is_accepted() -> None:
    config = parse_config(VALID + "outbound:\n  attachmentSources: [s3://shared-files/mail/]\n")
    assert config.outbound.attachment_sources == ("s3://shared-files/mail/",)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://shared-files/*/", "'*' is not allowed"),
        ("s3://shared-files/mail*/", "'mail*' is not allowed"),
        ("s3://shared-files/ma?l/", "'ma?l' is not allowed"),
        ("s3://shared-files/${aws:username}/", "is not allowed"),
        ("s3://shared-files/mail//x/", "'' is not allowed"),
        ("s3://shared-files/mail/../raw/", "'..' is not allowed"),
        ("s3://shared-files/./", "'.' is not allowed"),
        ("s3://shared-files/ma%il/", "'ma%il' is not allowed"),
        ("s3://mailflow-dev-123456789012-eu-west-1/raw/", "only locations under outbound/"),
        ("s3://mailflow-dev-123456789012-eu-west-1/attachments/", "only locations under outbound/"),
        ("s3://mailflow-dev-123456789012-eu-west-1/claims/", "only locations under outbound/"),
        ("s3://mailflow-dev-123456789012-eu-west-1/quarantine/", "only locations under outbound/"),
        ("s3://mailflow-dev-123456789012-eu-west-1/raw-copies/", "only locations under outbound/"),
        ("s3://mailflow-prod-123456789012-eu-west-1/raw/", "only locations under outbound/"),
        ("s3://mailflow-dev-anything/x/", "only locations under outbound/"),
    ],
)
def test_an_attachment_source_cannot_widen_the_handlers_grant(location: str, expected: str) -> None:
    """Security review 13: IAM reads * and ? as wildcards and ${...} as a variable; the stack's own
    internal prefixes would let every app attach (and send out) every app's inbound mail."""
    text = VALID + f"outbound:\n  attachmentSources:\n    - s3://shared-files/mail/\n    - '{location}'\n"
    found = problems(text)
    assert any("mailflow.yaml:10: outbound.attachmentSources[1]" in p and expected in p for p in found), found


@pytest.mark.parametrize(
    "location",
    [
        "s3://shared-files/mail/",
        "s3://shared-files/team-a/invoices_2024/",
        "s3://mailflow-dev-123456789012-eu-west-1/outbound/shared/",
        "s3://mailflowdev-files/raw/",
    ],
)
def test_plain_attachment_sources_are_accepted(location: str) -> None:
    config = parse_config(VALID + f"outbound:\n  attachmentSources: ['{location}']\n")
    assert config.outbound.attachment_sources == (location,)


def test_operator_principals_and_rule_position() -> None:
    arn = "arn:aws:iam::123456789012:role/mail-operators"
    config = parse_config(VALID + f"security:\n  operatorPrincipals: [{arn}]\nses:\n  rulePosition: first\n")
    assert config.security.operator_principals == (arn,)
    assert config.ses.rule_position == "first"
    assert parse_config(VALID).ses.rule_position == "last"
    found = problems(VALID + "security:\n  operatorPrincipals: [mail-operators]\n")
    assert any("security.operatorPrincipals" in p and "not an IAM role or user ARN" in p for p in found)
    assert any("ses.rulePosition" in p for p in problems(VALID + "ses:\n  rulePosition: middle\n"))


def test_the_feedback_and_cost_switches_default_to_off() -> None:
    """Issue 11: the Send event, per-app queue-age alarms and the handler's EMF metrics cost money and say
    little that nothing else says: off unless asked for; the reputation thresholds are SES's review
    thresholds with a margin."""
    config = parse_config(VALID)
    assert config.outbound.feedback.send_events is False
    assert config.alarms.app_queue_age is False
    assert config.observability.metrics is False
    reputation = config.alarms.reputation
    assert (reputation.bounce_warn, reputation.bounce_alarm) == (2.0, 4.0)
    assert (reputation.complaint_warn, reputation.complaint_alarm) == (0.05, 0.08)
    switched = parse_config(
        VALID
        + "outbound:\n  feedback:\n    sendEvents: true\nobservability:\n  metrics: true\n"
        + "alarms:\n  appQueueAge: true\n  reputation:\n    bounceWarn: 1\n    bounceAlarm: 1\n"
    )
    assert switched.outbound.feedback.send_events
    assert switched.observability.metrics
    assert switched.alarms.app_queue_age
    assert switched.alarms.reputation.bounce_alarm == 1.0


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "alarms:\n  reputation:\n    bounceWarn: 5\n",
            "alarms.reputation: bounceWarn (5 %) is above bounceAlarm (4 %)",
        ),
        (
            "alarms:\n  reputation:\n    complaintWarn: 0.1\n    complaintAlarm: 0.09\n",
            "complaintWarn (0.1 %) is above complaintAlarm (0.09 %)",
        ),
        ("alarms:\n  reputation:\n    bounceAlarm: 0\n", "alarms.reputation.bounceAlarm"),
        ("alarms:\n  reputation:\n    complaintAlarm: 101\n", "alarms.reputation.complaintAlarm"),
        ("observability:\n  metric: true\n", "observability.metric: unknown key"),
        ("outbound:\n  feedback:\n    sendEvent: true\n", "outbound.feedback.sendEvent: unknown key"),
        ("apps:\n  - ses-events\n", "app name 'ses-events' is reserved"),
    ],
)
def test_bad_feedback_and_alarm_settings(snippet: str, expected: str) -> None:
    text = VALID.replace("apps:\n  - app1\n", "") if snippet.startswith("apps:") else VALID
    found = problems(text + snippet)
    assert any(expected in p for p in found), found
