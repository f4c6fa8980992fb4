"""Contract C4: the runtime config the deploy engine writes carries the handler's new keys, with the
deploy-side values computed from mailflow.yaml, and the handler reads them back unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailflow_cli.config import parse_config as parse_cli_config
from mailflow_cli.errors import ConfigError
from mailflow_cli.naming import RAW_COPIES_PREFIX, stack_names
from mailflow_cli.packaging import runtime_config
from mailflow_handler.config import Config, InboundLimits
from mailflow_handler.config import parse_config as parse_handler_config

NEEDS_AWS = False
YAML = "environment: dev\nregion: eu-west-1\ndomains: [example.com]\napps: [app1]\n"


def handler_view(yaml_text: str) -> tuple[dict[str, Any], Config]:
    cli = parse_cli_config(yaml_text)
    document = json.loads(json.dumps(runtime_config(cli, stack_names(cli, "123456789012"))))
    return document, parse_handler_config(document)


def test_defaults_match_the_handlers_documented_defaults() -> None:
    document, config = handler_view(YAML)
    assert config.limits == InboundLimits()
    assert document["prefixes"]["rawCopies"] == RAW_COPIES_PREFIX == "raw-copies/"
    assert config.prefix_raw_copies == "raw-copies/"
    # storage.rawRetentionDays defaults to 7: the email record lives as long as the raw mail.
    assert config.idempotency_receipt_ttl_seconds == 7 * 86400


def test_values_come_from_mailflow_yaml() -> None:
    _, config = handler_view(
        YAML
        + "storage: {rawRetentionDays: 30}\n"
        + "inbound: {maxParts: 200, maxAttachments: 20, maxDecodedBytes: 5000000, maxDepth: 10,"
        + " maxEmbeddedHeaderBytes: 8192}\n"
    )
    assert config.idempotency_receipt_ttl_seconds == 30 * 86400
    assert config.limits == InboundLimits(
        max_parts=200,
        max_attachments=20,
        max_decoded_bytes=5_000_000,
        max_depth=10,
        max_embedded_header_bytes=8192,
    )


@pytest.mark.parametrize("bad", ["maxDepth: 101", "maxParts: 0", "maxAttachments: -1", "maxSomething: 3"])
def test_mailflow_yaml_rejects_limits_the_handler_would_refuse(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_cli_config(YAML + f"inbound: {{{bad}}}\n")


def test_the_handler_tags_with_the_names_the_app_policies_use() -> None:
    """C1: deploy's app policies condition on `s3:ExistingObjectTag/<APP_TAG_PREFIX><app>`; the handler
    writes the tags, and the default queue's target is the reserved app name both sides use."""
    from mailflow_cli.naming import APP_TAG_PREFIX, DEFAULT_TARGET
    from mailflow_handler.inbound import rawaccess, route

    assert rawaccess.TAG_PREFIX == APP_TAG_PREFIX
    assert route.DEFAULT_APP == DEFAULT_TARGET


def test_the_feedback_keys_come_from_mailflow_yaml() -> None:
    """Contract E: the events queue, the configuration set every send names, and the two switches."""
    document, config = handler_view(YAML)
    assert document["queues"]["sesEvents"] == config.ses_events_queue == "mailflow-dev-ses-events"
    assert document["feedback"] == {"configurationSet": "mailflow-dev", "sendEvents": False}
    assert document["observability"] == {"metrics": False}
    assert (config.configuration_set, config.send_events, config.metrics) == ("mailflow-dev", False, False)
    _, config = handler_view(
        YAML + "outbound: {feedback: {sendEvents: true}}\nobservability: {metrics: true}\n"
    )
    assert (config.send_events, config.metrics) == (True, True)


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("feedback", {"sendEvents": "yes"}),
        ("observability", {"metrics": 1}),
        ("feedback", {"configurationSet": 3}),
    ],
)
def test_the_handler_refuses_feedback_keys_of_the_wrong_type(section: str, value: dict[str, Any]) -> None:
    from mailflow_handler.config import ConfigError as HandlerConfigError

    document, _ = handler_view(YAML)
    document[section] = value
    with pytest.raises(HandlerConfigError, match=f"{section}.{next(iter(value))}"):
        parse_handler_config(document)


@pytest.mark.parametrize("other", ["outbound", "default", "app1"])
def test_the_events_queue_must_be_its_own_queue(other: str) -> None:
    """Dispatch tells SES events from outbound requests by the queue's name alone."""
    from mailflow_handler.config import ConfigError as HandlerConfigError

    document, _ = handler_view(YAML)
    document["queues"]["sesEvents"] = (
        document["apps"]["app1"]["queue"] if other == "app1" else document["queues"][other]
    )
    with pytest.raises(HandlerConfigError, match=r"queues\.sesEvents"):
        parse_handler_config(document)
