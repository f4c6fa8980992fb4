"""Answers in AWS's shapes: an error in the protocol the request came in, and a JSON answer with some of
its fields replaced (a function still ``Pending``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from mailflow_cli.local.faults import models

Headers = list[tuple[str, str]]


def error_response(
    service: str, protocol: str, code: str, status: int, message: str
) -> tuple[int, Headers, bytes]:
    """Status, headers and body that botocore's parser for ``protocol`` reads as ``code`` with
    ``message``, as the service itself would send them."""
    request_id = str(uuid.uuid4())
    headers: Headers = [("x-amzn-RequestId", request_id)]
    fault = "Sender" if status < 500 else "Receiver"
    model = models.service_model(service)
    if model.is_query_compatible:  # SQS, CloudWatch: the query-era code rides along in a header
        headers.append(("x-amzn-query-error", f"{code};{fault}"))
    short_code = code.rsplit(".", 1)[-1] if model.is_query_compatible else code
    if protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": short_code, "message": message})
        headers += [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")]
    elif protocol in models.JSON_PROTOCOLS:
        version = model.metadata.get("jsonVersion", "1.0")
        content_type = f"application/x-amz-json-{version}" if protocol == "json" else "application/json"
        headers += [("x-amzn-ErrorType", short_code), ("Content-Type", content_type)]
        body = json.dumps({"__type": short_code, "message": message}).encode()
    elif protocol == "rest-xml":  # S3's own shape: <Error> at the root
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse><Error><Type>{fault}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    return status, headers, body


def replace_fields(body: bytes, fields: tuple[tuple[str, str], ...]) -> bytes:
    """The JSON ``body`` with each dotted ``path`` set to its value (missing objects on the way are
    created); a body that is not a JSON object is returned as it is."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict):
        return body
    for path, value in fields:
        *parents, last = path.split(".")
        target: dict[str, object] = document
        for name in parents:
            inner = target.get(name)
            if not isinstance(inner, dict):
                inner = {}
                target[name] = inner
            target = inner
        target[last] = value
    return json.dumps(document).encode()


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("too long for CBOR")


def _cbor_map(items: Mapping[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949: major type 5 of major type 3 keys and values)."""
    encoded = b"".join(
        _cbor_head(3, len(text.encode())) + text.encode() for pair in items.items() for text in pair
    )
    return _cbor_head(5, len(items)) + encoded
