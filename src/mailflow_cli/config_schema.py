"""The JSON Schema of ``mailflow.yaml``, generated from the pydantic model, for editors and checks.

``python -m mailflow_cli.config_schema docs/schemas/mailflow-config.schema.json`` (``make schemas``)
regenerates the committed copy (without a path it prints the schema); ``mailflow init`` writes the same
schema beside the config it creates.

What it says: every key as users write it (camelCase), its type, enum, bounds and default
(``additionalProperties: false`` everywhere, as the model forbids unknown keys); a description from the
model's ``Field(description=...)``, else the comment that documents the key in ``mailflow.yaml.example``;
and the checks the model makes in validators that JSON Schema can state (:data:`VALIDATOR_KEYWORDS`:
name, region, domain, address and ARN patterns; plain app names). Checks it cannot state (names unique
regardless of case, ``sendAs`` within ``domains``, tag rules beyond their pattern) are left to the model,
which every command runs first. The output is draft-07, which yaml-language-server reads.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from mailflow_cli.config import (
    APP_PATTERN,
    DOMAIN_LABEL,
    EMAIL_PATTERN,
    ENVIRONMENT_PATTERN,
    PRINCIPAL_ARN_PATTERN,
    REGION_PATTERN,
    RESERVED_APP_NAMES,
    TAG_KEY_PATTERN,
    MailflowConfig,
)

DRAFT = "http://json-schema.org/draft-07/schema#"
TITLE = "Mailflow configuration (mailflow.yaml)"
COMMITTED = "docs/schemas/mailflow-config.schema.json"
REGENERATE = f"python -m mailflow_cli.config_schema {COMMITTED}"
ROOT = "MailflowConfig"


def _any_case(pattern: str) -> str:
    """The model lowercases app names and domains before matching them: accept either case."""
    return pattern.replace("a-z", "A-Za-z")


_LABEL = _any_case(DOMAIN_LABEL.pattern.removeprefix("^").removesuffix("$"))
DOMAIN = rf"^(?:{_LABEL}\.)+(?![0-9]+\.?$){_LABEL}\.?$"  # the last label is not numeric
APP_NAME = {
    "type": "string",
    "pattern": _any_case(APP_PATTERN.pattern),
    "not": {"enum": sorted(RESERVED_APP_NAMES)},
}

# (definition, property) -> keywords for the property's schema; under "items", for each element.
VALIDATOR_KEYWORDS: dict[tuple[str, str], dict[str, Any]] = {
    (ROOT, "environment"): {"pattern": ENVIRONMENT_PATTERN.pattern},
    (ROOT, "region"): {"pattern": REGION_PATTERN.pattern},
    (ROOT, "domains"): {"uniqueItems": True, "items": {"pattern": DOMAIN}},
    (ROOT, "tags"): {
        "maxProperties": 40,
        "propertyNames": {
            "pattern": TAG_KEY_PATTERN.pattern,
            "not": {"pattern": "^(?:[Aa][Ww][Ss]|[Mm][Aa][Ii][Ll][Ff][Ll][Oo][Ww]):"},
        },
        "additionalProperties": {"type": "string", "maxLength": 256},
    },
    ("AppConfig", "name"): APP_NAME,
    ("AppConfig", "sendAs"): {"items": {"pattern": EMAIL_PATTERN.pattern}},
    ("AppConfig", "allowedSenderDomains"): {"items": {"pattern": DOMAIN}},
    ("AppConfig", "senderPrincipals"): {"items": {"pattern": PRINCIPAL_ARN_PATTERN.pattern}},
    ("AlarmsConfig", "email"): {
        "anyOf": [{"type": "string", "pattern": EMAIL_PATTERN.pattern}, {"type": "null"}]
    },
}
# An app is a plain name or the long form (the model turns "billing" into {"name": "billing"}).
APP_ITEMS = {"anyOf": [APP_NAME, {"$ref": "#/definitions/AppConfig"}]}


def config_schema(example: str | None = None) -> dict[str, Any]:
    """The schema; descriptions missing from the model come from ``example`` (default: the packaged
    mailflow.yaml.example)."""
    if example is None:
        from mailflow_cli.operate.init import example_text

        example = example_text()
    generated = MailflowConfig.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions: dict[str, Any] = generated.pop("$defs")
    definitions[ROOT] = generated
    for (name, key), keywords in VALIDATOR_KEYWORDS.items():
        _merge(_property(definitions, name, key), keywords)
    _property(definitions, ROOT, "apps")["items"] = APP_ITEMS
    for path, text in example_descriptions(example).items():
        found = _find(definitions, ROOT, path)
        if found is not None:
            found.setdefault("description", text)
    root = definitions.pop(ROOT)
    root.pop("title")
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": TITLE,
        "$comment": f"Generated from mailflow_cli.config.MailflowConfig (do not edit): {REGENERATE}",
        **_draft7(root),
        "definitions": {name: _draft7(definition) for name, definition in definitions.items()},
    }
    cleaned: dict[str, Any] = _without_titles(schema)
    return cleaned


def _property(definitions: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = definitions[name]["properties"][key]
    except KeyError:
        raise KeyError(
            f"{name}.{key} is not in the model any more: update VALIDATOR_KEYWORDS in {__name__}"
        ) from None
    return found


def _merge(target: dict[str, Any], keywords: dict[str, Any]) -> None:
    for keyword, value in keywords.items():
        if isinstance(value, dict) and isinstance(target.get(keyword), dict):
            target[keyword] = {**target[keyword], **value}
        else:
            target[keyword] = value


def _find(definitions: dict[str, Any], name: str, path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of the property at ``path`` (keys only; lists are looked through), if there is one."""
    node: dict[str, Any] | None = definitions[name]
    for key in path:
        node = _resolved(definitions, node)
        properties = node.get("properties", {}) if node is not None else {}
        node = properties.get(key)
        if node is None:
            return None
    return node


def _resolved(definitions: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    """Follow references, array items and the object branch of an anyOf down to an object schema."""
    while node is not None and "properties" not in node:
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        elif "anyOf" in node:
            node = next(
                (branch for branch in node["anyOf"] if "$ref" in branch or "properties" in branch), None
            )
        else:
            return None
    return node


def _draft7(node: Any) -> Any:
    """Draft 2020-12 output as draft-07: a ``$ref`` with sibling keywords (a default) goes into allOf,
    since draft-07 ignores a ``$ref``'s siblings."""
    if isinstance(node, list):
        return [_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _draft7(value) for key, value in node.items()}
    if "$ref" in converted and len(converted) > 1:
        ref = converted.pop("$ref")
        converted = {"allOf": [{"$ref": ref}], **converted}
    return converted


def _without_titles(node: Any, *, root: bool = True) -> Any:
    """Drop pydantic's generated titles ("Maxreceivecount"): editors show the key and its description."""
    if isinstance(node, list):
        return [_without_titles(item, root=False) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _without_titles(value, root=False)
        for key, value in node.items()
        if key != "title" or root or not isinstance(value, str)
    }


# Descriptions from the example's comments -----------------------------------------------------------
def example_descriptions(text: str) -> dict[tuple[str, ...], str]:
    """Key path (list positions left out) -> the comment documenting it in ``text``: the comment lines
    right above the key, at its indentation, then a comment after its value (and the comment lines below
    that start in the same column)."""
    lines = text.splitlines()
    found: dict[tuple[str, ...], str] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = (*path, str(key_node.value))
                comment = _comment(lines, key_node, value_node)
                if comment:
                    found.setdefault(key_path, comment)
                walk(value_node, key_path)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, path)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return found


_COMMENT = re.compile(r"^(\s*)#\s?(.*)$")


def _comment(lines: list[str], key_node: yaml.Node, value_node: yaml.Node) -> str:
    row, column = key_node.start_mark.line, key_node.start_mark.column
    parts: list[str] = []
    above = row - 1
    while above >= 0 and (match := _COMMENT.match(lines[above])) and len(match[1]) == column:
        parts.insert(0, match[2].strip())
        above -= 1
    if value_node.end_mark.line == row and not isinstance(value_node, yaml.MappingNode):
        after = lines[row][value_node.end_mark.column :]
        if after.strip().startswith("#"):
            hash_column = value_node.end_mark.column + after.index("#")
            parts.append(after.strip()[1:].strip())
            below = row + 1
            while (
                below < len(lines)
                and (match := _COMMENT.match(lines[below]))
                and len(match[1]) == hash_column
            ):
                parts.append(match[2].strip())
                below += 1
    return " ".join(part for part in parts if part)


def schema_text(schema: dict[str, Any] | None = None) -> str:
    return json.dumps(schema if schema is not None else config_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the schema, or write it to the path given (only once it was generated)."""
    args = sys.argv[1:] if argv is None else argv
    text = schema_text()
    if not args:
        sys.stdout.write(text)
        return
    Path(args[0]).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
