"""The keyed hash the handler logs instead of an address (contract L), so a trace can find an address.

The handler keeps a 32-byte random key in its idempotency table (item ``config#address-hash-key``,
attribute ``key``, base64) and logs ``addressHashes``: the hashes of every address an email involves.
The CLI reads the key and computes the hash with the handler's own function
(``mailflow_handler.addresses``, imported from the handler package shipped with the CLI, as replay
imports the handler's routing): one implementation, so the two can never disagree. Without the key no
address is ever searchable, and the key is as private as the table.
"""

from __future__ import annotations

from mailflow_cli.aws import error_code, translate_client_error
from mailflow_cli.context import StackContext
from mailflow_cli.errors import AwsError
from mailflow_cli.operate.handler_code import handler_module
from mailflow_cli.operate.stack import MISSING_RESOURCE_CODES, stack_not_deployed


def address_hash(key: bytes, address: str) -> str:
    """What the handler logs for ``address`` with ``key``: its ``address_hash``."""
    return str(handler_module("addresses").address_hash(key, address))


def read_key(ctx: StackContext) -> bytes | None:
    """The stack's hash key, or None when the handler has not made one yet (it has logged no hashes)."""
    from botocore.exceptions import ClientError

    addresses = handler_module("addresses")
    table = ctx.names.table
    try:
        item = (
            ctx.clients.client("dynamodb")
            .get_item(TableName=table, Key={"id": {"S": addresses.KEY_ITEM_ID}}, ConsistentRead=True)
            .get("Item")
        )
    except ClientError as exc:
        if error_code(exc) in MISSING_RESOURCE_CODES:
            raise stack_not_deployed(ctx, f"the table {table}") from None
        raise translate_client_error(exc, f"the table {table}") from exc
    if not item:
        return None
    key: bytes | None = addresses.decode_key(item)
    if key is None:
        raise AwsError(
            f"the address hash key in {table} (item {addresses.KEY_ITEM_ID}) is not base64 bytes",
            hint="the handler writes it once; if the item was edited by hand, delete it and the handler "
            "makes a new one (addresses logged before then are then no longer searchable)",
        )
    return key
