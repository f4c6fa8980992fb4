"""Addresses in the log lines: a keyed hash instead of the address (contract L).

`address_hash(key, address)` is what the handler logs in `addressHashes` and what `mailflow trace`
computes to find an address; the CLI may import this module from the packaged handler source (it needs
neither boto3 nor the rest of the handler). The key is 32 random bytes kept in the idempotency table as
item `id = "config#address-hash-key"`, attribute `key` (base64), without an `expiration`: the handler
makes it on first need with a conditional PutItem and reads it once per container.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from email.utils import parseaddr
from typing import Any

from .errors import conditional_failure
from .observability import logger

KEY_ITEM_ID = "config#address-hash-key"
KEY_BYTES = 32
HASH_HEX_CHARS = 32
# Hashes in one log line: an outbound request has at most 51 addresses, an SES receipt 50 recipients;
# anything past this (a hostile event) is left out of `addressHashes`.
MAX_HASHES = 100

_keys: dict[str, bytes] = {}


def address_hash(key: bytes, address: str) -> str:
    """`hmac_sha256(key, address.strip().lower())` over UTF-8, the first 32 hex digits."""
    normalised = address.strip().lower().encode("utf-8", "surrogatepass")
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


def bare_address(value: str) -> str:
    """`Name <a@b>` -> `a@b`; a plain address is returned as it is."""
    if "<" not in value:
        return value
    return parseaddr(value)[1] or value


def address_hashes(key: bytes, addresses: Iterable[Any]) -> str:
    """One string: the space-separated hashes of the distinct addresses, in first-seen order."""
    seen: dict[str, None] = {}
    for value in addresses:
        if not isinstance(value, str) or not value.strip():
            continue
        seen.setdefault(address_hash(key, bare_address(value)), None)
        if len(seen) == MAX_HASHES:
            break
    return " ".join(seen)


def decode_key(item: dict[str, Any] | None) -> bytes | None:
    """The key from its DynamoDB item, or None when there is no usable item."""
    encoded = (item or {}).get("key", {}).get("S")
    if not isinstance(encoded, str):
        return None
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def _read(dynamodb: Any, table: str) -> bytes | None:
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": KEY_ITEM_ID}}, ConsistentRead=True).get("Item")
    return decode_key(item)


def load_key(dynamodb: Any, table: str) -> bytes:
    """The stack's key: read it (one GetItem); the first time ever, create it with a conditional PutItem,
    and when another container won that race, read the winner's."""
    key = _read(dynamodb, table)
    if key is not None:
        return key
    fresh = os.urandom(KEY_BYTES)
    try:
        dynamodb.put_item(
            TableName=table,
            Item={"id": {"S": KEY_ITEM_ID}, "key": {"S": base64.b64encode(fresh).decode("ascii")}},
            ConditionExpression="attribute_not_exists(id)",
        )
        return fresh
    except Exception as exc:
        if not conditional_failure(exc):
            raise
    key = _read(dynamodb, table)
    if key is None:
        raise RuntimeError(f"the address hash key item {KEY_ITEM_ID} in {table} is not base64 bytes")
    return key


def container_key(dynamodb: Any | None, table: str) -> bytes:
    """The key, read once per container. Without a table (in-memory tests, benchmarks) a random key of
    the process: its hashes hide the addresses but no trace can find them."""
    found = _keys.get(table)
    if found is None:
        found = os.urandom(KEY_BYTES) if dynamodb is None else load_key(dynamodb, table)
        _keys[table] = found
    return found


def log_hashes(dynamodb: Any | None, table: str, addresses: Iterable[Any]) -> str | None:
    """`addressHashes` for a log line; None (and a warning) when the key cannot be read, which never
    fails the work the line is about."""
    try:
        key = container_key(dynamodb, table)
    except Exception as exc:
        logger.warning("address hash key unavailable", error=f"{type(exc).__name__}: {exc}"[:500])
        return None
    return address_hashes(key, addresses)


def reset() -> None:
    """Forget the cached keys (tests)."""
    _keys.clear()
