"""Which AWS call an HTTP request is: service, operation, protocol, parameters, the resources it names.

The service comes from the SigV4 credential scope, the operation from the request as its protocol puts
it (``X-Amz-Target`` for JSON, the path for RPC v2 CBOR, ``Action`` for query, the method, path and query
literals of botocore's ``requestUri`` templates for REST), so every service botocore models is known.

Limits: form and JSON bodies are read up to :data:`MAX_INSPECTED_BODY` (a larger body is passed on
unread, and the call then names no resource from it); REST XML and CBOR bodies are not read (S3's bucket
and key come from the path: path-style addressing, as SDKs use for an endpoint on 127.0.0.1).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from mailflow_cli.local.faults import models
from mailflow_cli.local.guard import Environ, presented_access_keys

MAX_INSPECTED_BODY = 8 * 1024 * 1024

_SCOPE = re.compile(r"Credential=[^/,\s]*/\d{8}/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/")
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
_PIECES = re.compile(r"(\{[A-Za-z0-9_]+\+?\})")
_IDENTIFIER_KEYS = frozenset({"Bucket", "Role", "PermissionsBoundary", "Resource", "UUID"})
_IDENTIFIER_SUFFIXES = ("Name", "Arn", "ARN", "Url", "Id")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    protocol: str
    """How the request was sent, and so how it is answered: query, json, rest-json, rest-xml or
    smithy-rpc-v2-cbor."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The first value of each parameter, by its own name (``BucketName``, ``FunctionName``)."""
    names: frozenset[str] = frozenset()
    """What the call names: identifier parameters (``…Name``, ``…Arn``, ``…Url``, ``…Id``, ``Bucket``,
    ``Role``, REST path labels) and the last segment of each ARN or URL among them."""
    caller: str | None = None
    """The access key id the request is signed with."""


def identify(environ: Environ, services: Iterable[str]) -> Call | None:
    """The call, if it is one of ``services``; ``None`` otherwise (and then the body is not read)."""
    scope = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if scope is None:
        return None
    candidates = [s for s in services if models.service_model(s).signing_name == scope.group("service")]
    if not candidates:
        return None
    body = _read_body(environ)
    keys = presented_access_keys(environ)
    for service in candidates:
        found = _operation(service, environ, body)
        if found is not None:
            operation, protocol, leaves = found
            return Call(
                service,
                operation,
                protocol,
                parameters=_first_values(leaves),
                names=_names(leaves),
                caller=keys[0] if keys else None,
            )
    return None


def _read_body(environ: Environ) -> bytes:
    """The body of a form or JSON request, which is put back for the application to read."""
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    if "json" not in content_type and "x-www-form-urlencoded" not in content_type:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if not 0 < length <= MAX_INSPECTED_BODY:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


Leaves = list[tuple[str, str, bool]]
"""(parameter name, value, whether it identifies a resource)."""


def _operation(service: str, environ: Environ, body: bytes) -> tuple[str, str, Leaves] | None:
    model = models.service_model(service)
    target = environ.get("HTTP_X_AMZ_TARGET")
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    form = (
        parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "x-www-form-urlencoded" in content_type
        else {}
    )
    found: tuple[str, str, Leaves] | None = None
    if target:
        operation = str(target).rsplit(".", 1)[-1]
        found = operation, "json", _json_leaves(model, operation, _json(body))
    elif str(environ.get("HTTP_SMITHY_PROTOCOL", "")).lower() == "rpc-v2-cbor":
        found = str(environ.get("PATH_INFO", "")).rsplit("/", 1)[-1], "smithy-rpc-v2-cbor", []
    elif "Action" in form:
        found = form.pop("Action")[0], "query", _query_leaves(form)
    else:
        protocol = next((p for p in model.protocols if p in ("rest-json", "rest-xml")), None)
        if protocol is not None:
            found = _rest(service, protocol, environ, body)
    if found is None or found[0] not in model.operation_names:
        return None
    return found


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return {}


def _json_leaves(model: Any, operation: str, document: Any) -> Leaves:
    if operation not in model.operation_names:
        return []
    return list(_shape_leaves(model.operation_model(operation).input_shape, document, ""))


def _shape_leaves(shape: Any, value: Any, name: str) -> Iterator[tuple[str, str, bool]]:
    """The string parameters of a JSON input, by member name, walked along the input's shape. Maps are
    not walked: their keys are data (tag keys, queue attribute names), not parameter names."""
    if shape is None:
        return
    if shape.type_name == "structure" and isinstance(value, dict):
        for member, member_shape in shape.members.items():
            key = member_shape.serialization.get("name", member)
            if key in value:
                yield from _shape_leaves(member_shape, value[key], member)
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            yield from _shape_leaves(shape.member, item, name)
    elif shape.type_name == "string" and isinstance(value, str) and name:
        yield name, value, _identifies(name)


def _query_leaves(form: Mapping[str, list[str]]) -> Leaves:
    """Flattened query parameters by their last member name; map entries (``.entry.``) are data."""
    leaves: Leaves = []
    for key, values in form.items():
        if ".entry." in key:
            continue
        leaf = _query_leaf(key)
        leaves.append((leaf, values[0], _identifies(leaf)))
    return leaves


def _query_leaf(key: str) -> str:
    """``Rule.Actions.member.2.LambdaAction.FunctionArn`` -> ``FunctionArn``; ``TagKeys.member.1`` ->
    ``TagKeys``."""
    parts = [part for part in key.split(".") if part != "member" and not part.isdigit()]
    return parts[-1] if parts else key


def _identifies(key: str) -> bool:
    return key in _IDENTIFIER_KEYS or key.endswith(_IDENTIFIER_SUFFIXES)


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]
    literals: tuple[tuple[str, str | None], ...]
    """Query keys the request must carry (with this value, unless None): the template's literals and
    the operation's required query parameters."""
    headers: tuple[str, ...]
    """WSGI names of the headers the operation requires (CopyObject's ``x-amz-copy-source``)."""
    specificity: tuple[int, int, bool]
    """The most specific template wins: the most required query keys and headers, then the longest
    literal path, then the operation that is not deprecated (GetBucketLifecycleConfiguration, not
    GetBucketLifecycle)."""

    def matches(self, method: str, path: str, query: Mapping[str, list[str]], environ: Environ) -> bool:
        return (
            self.method == method
            and self.path.fullmatch(path) is not None
            and all(key in query and (value is None or value in query[key]) for key, value in self.literals)
            and all(header in environ for header in self.headers)
        )


@cache
def _routes(service: str) -> tuple[_Route, ...]:
    model = models.service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = str(http.get("requestUri", "/")).partition("?")
        labels = tuple(label for label, _greedy in _LABEL.findall(path))
        pieces = _PIECES.split(path)
        pattern = "".join(
            ("(.+)" if piece.endswith("+}") else "([^/]+)") if _LABEL.fullmatch(piece) else re.escape(piece)
            for piece in pieces
        )
        operation = model.operation_model(name)
        required = _required_locations(operation.input_shape)
        literals = tuple(
            (key, value if equals else None)
            for key, equals, value in (item.partition("=") for item in query.split("&") if item)
        ) + tuple((key, None) for location, key in required if location == "querystring")
        headers = tuple(
            "HTTP_" + key.upper().replace("-", "_") for location, key in required if location == "header"
        )
        specificity = (
            len(literals) + len(headers),
            sum(len(piece) for piece in pieces if not _LABEL.fullmatch(piece)),
            not operation.deprecated,
        )
        method = str(http.get("method", "GET"))
        routes.append(_Route(name, method, re.compile(pattern), labels, literals, headers, specificity))
    return tuple(routes)


def _required_locations(shape: Any) -> list[tuple[str, str]]:
    """(location, name) of the input's required members sent in the query string or a header."""
    if shape is None:
        return []
    required = set(shape.required_members)
    return [
        (member.serialization["location"], member.serialization.get("name", name))
        for name, member in shape.members.items()
        if name in required and member.serialization.get("location") in ("querystring", "header")
    ]


def _rest(service: str, protocol: str, environ: Environ, body: bytes) -> tuple[str, str, Leaves] | None:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = str(environ.get("PATH_INFO", "")) or "/"
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    candidates = [route for route in _routes(service) if route.matches(method, path, query, environ)]
    if not candidates:
        return None
    route = max(candidates, key=lambda candidate: candidate.specificity)
    match = route.path.fullmatch(path)
    assert match is not None
    leaves: Leaves = [(label, value, True) for label, value in zip(route.labels, match.groups(), strict=True)]
    leaves += [(key, values[0], _identifies(key)) for key, values in query.items() if values[0]]
    if protocol == "rest-json":
        leaves += _json_leaves(models.service_model(service), route.operation, _json(body))
    return route.operation, protocol, leaves


def _first_values(leaves: Leaves) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value, _ in leaves:
        values.setdefault(key, value)
    return values


def last_segment(value: str) -> str:
    """What an ARN or URL names: ``arn:aws:iam::1:role/r`` -> ``r``; ``.../123/queue`` -> ``queue``."""
    return value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _names(leaves: Leaves) -> frozenset[str]:
    return frozenset(
        name
        for key, value, identifies in leaves
        if identifies
        for name in (value, last_segment(value))
        if name
    )
