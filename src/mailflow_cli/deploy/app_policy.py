"""The least-privilege IAM policy an app's own role needs (contract C1): its queue, its own stored mail,
and the outbound path. ``default`` is the default queue's consumer, which reads but does not send."""

from __future__ import annotations

from typing import Any

from mailflow_cli.config import MailflowConfig
from mailflow_cli.errors import UsageError
from mailflow_cli.naming import (
    ATTACHMENTS_PREFIX,
    CLAIMS_PREFIX,
    DEFAULT_TARGET,
    OUTBOUND_PREFIX,
    RAW_COPIES_PREFIX,
    RAW_PREFIX,
    StackNames,
    app_tag_key,
)

CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


def app_policy_name(names: StackNames, app: str) -> str:
    return f"{names.prefix}-app-{app}"


def resolve_app(config: MailflowConfig, app: str) -> str:
    """The configured app (or ``default``) that ``app`` names; exit 2 naming it otherwise."""
    name = app.strip().lower()
    if name == DEFAULT_TARGET or config.app(name) is not None:
        return name
    raise UsageError(
        f"the app {app!r} is not configured in this stack",
        hint=f"name one of: {', '.join(config.app_names)}, or {DEFAULT_TARGET} for the default queue's "
        "consumer",
    )


def app_policy(names: StackNames, app: str) -> dict[str, Any]:
    """For a resolved ``app`` (see :func:`resolve_app`)."""
    bucket = names.bucket_arn
    queue = names.default_queue if app == DEFAULT_TARGET else names.app_queue(app)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConsumeOwnQueue",
            "Effect": "Allow",
            "Action": list(CONSUMER_ACTIONS),
            "Resource": names.queue_arn(queue),
        },
        {
            # The handler tags each raw object with the apps it was delivered to (contract C1).
            "Sid": "ReadOwnRawMail",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket}/{RAW_PREFIX}*",
            "Condition": {"StringEquals": {f"s3:ExistingObjectTag/{app_tag_key(app)}": "1"}},
        },
        {
            "Sid": "ReadOwnDerivedObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                f"{bucket}/{prefix}{app}/*"
                for prefix in (RAW_COPIES_PREFIX, ATTACHMENTS_PREFIX, CLAIMS_PREFIX)
            ],
        },
    ]
    if app != DEFAULT_TARGET:
        statements += [
            {
                "Sid": "SendOutboundMail",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": names.queue_arn(names.outbound_queue),
            },
            {
                "Sid": "UploadOwnAttachments",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/{OUTBOUND_PREFIX}{app}/*",
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
