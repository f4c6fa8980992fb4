"""IAM-style policy documents compared by meaning, not by their JSON text."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

_LIST_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource"})


def _normalise(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, k) for k, v in sorted(value.items()) if k != "Version" or key is None}
    if key in _LIST_KEYS or (key is not None and isinstance(value, list) and key not in {"Statement"}):
        items = value if isinstance(value, list) else [value]
        normalised = sorted({json.dumps(_normalise(item), sort_keys=True) for item in items})
        loaded = [json.loads(item) for item in normalised]
        return loaded[0] if len(loaded) == 1 else loaded
    if isinstance(value, list):
        return sorted((_normalise(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    return value


def normalise_policy(document: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """Parse (URL-decoding if needed) and canonicalise: ordering and one-element lists do not matter."""
    if document is None:
        return None
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        document = json.loads(text)
    assert isinstance(document, dict)
    normalised = _normalise(document)
    assert isinstance(normalised, dict)
    statements = normalised.get("Statement")
    if isinstance(statements, dict):
        normalised["Statement"] = [statements]
    normalised["Version"] = document.get("Version", "2012-10-17")
    return normalised


def policy_json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
