"""The JSON Schema of mailflow.yaml (docs/schemas/mailflow-config.schema.json): current, valid draft-07,
in step with the pydantic model on the example, on `mailflow init`'s output, and on invalid configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from mailflow_cli.config import parse_config
from mailflow_cli.config_schema import COMMITTED, REGENERATE, config_schema, example_descriptions, schema_text
from mailflow_cli.errors import ConfigError
from mailflow_cli.operate import init

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "mailflow.yaml.example").read_text(encoding="utf-8")
MINIMAL = {"environment": "dev", "region": "eu-west-1", "domains": ["example.com"], "apps": ["app1"]}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return config_schema(EXAMPLE)


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft7Validator:
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def problems(validator: Draft7Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_committed_schema_is_current(schema: dict[str, Any]) -> None:
    committed = (REPO / COMMITTED).read_text(encoding="utf-8")
    assert committed == schema_text(schema), (
        f"{COMMITTED} is out of date with the config model or mailflow.yaml.example; "
        f"regenerate it: `make schemas` (or `{REGENERATE}`) and commit the result"
    )


def test_keys_are_written_as_users_write_them(schema: dict[str, Any]) -> None:
    definitions = schema["definitions"]
    assert "lambda" in schema["properties"]
    assert "rawRetentionDays" in definitions["StorageConfig"]["properties"]
    assert "senderPrincipals" in definitions["AppConfig"]["properties"]
    assert definitions["LambdaConfig"]["properties"]["architecture"]["enum"] == ["arm64", "x86_64"]
    assert definitions["QueuesConfig"]["properties"]["maxReceiveCount"]["default"] == 5
    for name, definition in [("(root)", schema), *definitions.items()]:
        assert definition["additionalProperties"] is False, name
        for key, prop in definition["properties"].items():
            assert "title" not in prop, f"{name}.{key}"


def test_every_key_the_user_sets_has_a_description(schema: dict[str, Any]) -> None:
    """Editors show it on hover: from Field(description=...) in config.py, else the example's comment."""
    sections = {key for key, prop in schema["properties"].items() if "allOf" in prop}
    undocumented = [
        f"{name}.{key}"
        for name, definition in [("(root)", schema), *schema["definitions"].items()]
        for key, prop in definition["properties"].items()
        if not prop.get("description") and not (name == "(root)" and key in sections)
    ]
    assert undocumented == [], (
        "describe these keys with Field(description=...) in config.py or a comment in "
        f"mailflow.yaml.example, then `make schemas`: {undocumented}"
    )


def test_example_comments_become_descriptions() -> None:
    found = example_descriptions(EXAMPLE)
    assert found[("environment",)].startswith("Part of every resource name")
    assert (
        found[("queues", "maxReceiveCount")]
        == "receives before an app/default queue message moves to the apps DLQ"
    )
    continued = found[("outbound", "attachmentSources")]  # a comment over several lines is one description
    assert continued.startswith("extra s3://bucket/prefix/ locations")
    assert "from s3://<stack bucket>/outbound/<app>/);" in continued
    assert continued.endswith("(docs/permissions.md)")
    assert found[("apps", "sendAs")].startswith("Extra From addresses")


def test_the_example_and_the_minimal_template_are_valid(validator: Draft7Validator) -> None:
    assert problems(validator, yaml.safe_load(EXAMPLE)) == []
    parse_config(EXAMPLE)  # and the model agrees
    answers = init.InitAnswers("dev", "eu-west-1", ("example.com",), ("app1",))
    assert problems(validator, yaml.safe_load(init.render(answers, template=init.MINIMAL_TEMPLATE))) == []


@pytest.mark.parametrize(
    "answers",
    [
        init.InitAnswers("dev", "eu-west-1", ("example.com",), ("app1",)),
        init.InitAnswers(
            "prod2", "us-east-1", ("Example.COM", "mail.example.org."), ("billing", "Support-2")
        ),
    ],
    ids=["one-of-each", "several"],
)
def test_what_init_writes_is_valid(validator: Draft7Validator, answers: init.InitAnswers) -> None:
    text = init.render(answers, EXAMPLE)
    parse_config(text)
    assert problems(validator, yaml.safe_load(text)) == []


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("unknown top-level key", {"domain": ["example.com"]}),
    ("unknown nested key", {"queues": {"maxRecieveCount": 3}}),
    ("missing region", {"region": None}),
    ("environment with capitals", {"environment": "Prod_1"}),
    ("region that is no region", {"region": "europe"}),
    ("no apps", {"apps": []}),
    ("reserved app name", {"apps": ["default"]}),
    ("app name with a dot", {"apps": ["my.app"]}),
    ("app in the long form without a name", {"apps": [{"sendAs": []}]}),
    ("not a domain", {"domains": ["localhost"]}),
    ("numeric top-level domain", {"domains": ["example.123"]}),
    ("sender principal that is no ARN", {"apps": [{"name": "a1", "senderPrincipals": ["app1-role"]}]}),
    ("sendAs that is no address", {"apps": [{"name": "a1", "sendAs": ["billing"]}]}),
    ("architecture not offered", {"lambda": {"architecture": "x86"}}),
    ("runtime not offered", {"lambda": {"runtime": "python3.9"}}),
    ("log retention CloudWatch does not offer", {"lambda": {"logRetentionDays": 10}}),
    ("maxReceiveCount below 1", {"queues": {"maxReceiveCount": 0}}),
    ("message bigger than SQS allows", {"queues": {"maxMessageBytes": 2_000_000}}),
    ("virus mail delivered", {"security": {"virusFail": "deliver"}}),
    ("alarm e-mail that is no address", {"alarms": {"email": "ops"}}),
    ("tag key taken by mailflow", {"tags": {"mailflow:owner": "x"}}),
    ("boolean that is a string", {"alarms": {"enabled": "sometimes"}}),
]


@pytest.mark.parametrize(("case", "change"), INVALID, ids=[case for case, _ in INVALID])
def test_configs_the_model_rejects_the_schema_rejects_too(
    validator: Draft7Validator, case: str, change: dict[str, Any]
) -> None:
    document = {**MINIMAL, **change}
    document = {key: value for key, value in document.items() if value is not None}
    with pytest.raises(ConfigError):
        parse_config(json.dumps(document))
    assert problems(validator, document) != [], case


def test_values_the_model_accepts_in_either_case_are_valid(validator: Draft7Validator) -> None:
    document = {**MINIMAL, "domains": ["Example.COM."], "apps": ["Billing", {"name": "CRM", "sendAs": []}]}
    parse_config(json.dumps(document))
    assert problems(validator, document) == []
