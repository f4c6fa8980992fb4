"""The keyed hash the handler logs instead of an address (contract L), so a trace can find an address.

The handler keeps a 32-byte random key in its idempotency table (item ``config#address-hash-key``,
attribute ``key``, base64) and logs ``addressHashes``: the hashes of every address an email involves.
The CLI reads the key and computes the same hash; without the key no address is ever searchable, and
the key is as private as the table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.errors import AwsError
from mailflow_cli.operate.stack import MISSING_RESOURCE_CODES, stack_not_deployed

KEY_ITEM_ID = "config#address-hash-key"
HASH_HEX_CHARS = 32


def address_hash(key: bytes, address: str) -> str:
    """``hmac_sha256(key, address.strip().lower())`` (UTF-8), the first 32 hex digits."""
    normalised = address.strip().lower().encode("utf-8")
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


def read_key(ctx: StackContext) -> bytes | None:
    """The stack's hash key, or None when the handler has not made one yet (it has logged no hashes)."""
    from botocore.exceptions import ClientError

    table = ctx.names.table
    try:
        item = (
            ctx.clients.client("dynamodb")
            .get_item(TableName=table, Key={"id": {"S": KEY_ITEM_ID}}, ConsistentRead=True)
            .get("Item")
        )
    except ClientError as exc:
        if error_code(exc) in MISSING_RESOURCE_CODES:
            raise stack_not_deployed(ctx, f"the table {table}") from None
        raise translate_client_error(exc, f"the table {table}") from exc
    if not item:
        return None
    encoded = item.get("key", {}).get("S")
    try:
        key = base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise AwsError(
            f"the address hash key in {table} (item {KEY_ITEM_ID}) is not base64 bytes",
            hint="the handler writes it once; if the item was edited by hand, delete it and the handler "
            "makes a new one (addresses logged before then are then no longer searchable)",
        )
    return key
