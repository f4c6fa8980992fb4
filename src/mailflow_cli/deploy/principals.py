"""Resolve each app's ``senderPrincipals`` (IAM role or user ARNs) to the unique ids SQS reports.

SQS stamps every message with the ``SenderId`` of the principal that sent it: a user's id
(``AIDA…``) or, for an assumed role, ``<role id>:<session>`` (``AROA…:…``). The handler compares it
with these ids, so only an app's own principals can put outbound mail on the queue in its name.
Read-only (``iam:GetRole`` / ``iam:GetUser``), and no call at all when no app names principals.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.aws import AwsClients, error_code, translate_client_error
from mailflow_cli.config import MailflowConfig
from mailflow_cli.errors import MailflowError


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    return (allow(scopes.sender_roles, "iam:GetRole"), allow(scopes.sender_users, "iam:GetUser"))


def resolve_sender_ids(clients: AwsClients, config: MailflowConfig) -> dict[str, tuple[str, ...]]:
    resolved: dict[str, tuple[str, ...]] = {}
    cache: dict[str, str] = {}
    for app in config.apps:
        ids = []
        for arn in app.sender_principals:
            account = arn.split(":")[4]
            if account != clients.account_id():
                raise MailflowError(
                    f"apps[{app.name}].senderPrincipals: {arn} is in account {account}, not in the "
                    f"stack's account {clients.account_id()}",
                    hint="name a role or user of this account (a role that the other account may assume)",
                )
            if arn not in cache:
                cache[arn] = _unique_id(clients.client("iam"), arn, app.name)
            ids.append(cache[arn])
        if ids:
            resolved[app.name] = tuple(ids)
    return resolved


def _unique_id(iam: Any, arn: str, app: str) -> str:
    kind, _, path_and_name = arn.split(":", 5)[5].partition("/")
    name = path_and_name.rsplit("/", 1)[-1]
    try:
        if kind == "role":
            return str(iam.get_role(RoleName=name)["Role"]["RoleId"])
        return str(iam.get_user(UserName=name)["User"]["UserId"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise MailflowError(
                f"apps[{app}].senderPrincipals: {arn} does not exist in this account",
                hint="create the role or user first, or correct the ARN in the config",
            ) from exc
        raise translate_client_error(exc, f"apps[{app}].senderPrincipals ({arn})") from exc
