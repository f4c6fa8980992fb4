"""AWS's documented eventual consistency and throttling, as named sets of fault rules.

Each scenario plays one behaviour with AWS's error code and message and its usual duration; the
composites play what a fresh account, or any deploy, runs into. The durations are what AWS's documents
and common experience give as usual, not worst cases (IAM propagation can take longer).

Rules are tried in order and the first that fires answers, so within a scenario (and a composite) the
errors come before the states of the same call: an update refused while another is in progress, else
answered as InProgress.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailflow_cli.local.faults.rules import FaultRule, parse_rule

IAM_CONSISTENCY = (
    "IAM User Guide, Troubleshooting IAM: 'Changes that I make are not always immediately visible' "
    "(IAM is eventually consistent; a new role or policy is not usable everywhere at once)"
)
LAMBDA_STATES = "Lambda Developer Guide, 'Lambda function states' (Pending, Active; LastUpdateStatus)"


@dataclass(frozen=True)
class Scenario:
    name: str
    behaviour: str
    """What AWS does, with the call, the error code and the message it answers."""
    usual: str
    """How long it usually lasts."""
    reference: str
    """Where AWS documents it."""
    rules: tuple[FaultRule, ...]


def _rules(*texts: str) -> tuple[FaultRule, ...]:
    return tuple(parse_rule(text) for text in texts)


IAM_ROLE_NOT_FOUND = Scenario(
    "iam-role-not-found",
    "right after CreateRole, IAM answers PutRolePolicy on the new role with NoSuchEntity "
    "'The role with name <role> cannot be found.'",
    "a second or two",
    IAM_CONSISTENCY,
    _rules(
        "iam:PutRolePolicy=after-same:iam:CreateRole:2s:NoSuchEntity;"
        "message=The role with name {RoleName} cannot be found."
    ),
)

IAM_BOUNDARY_NOT_FOUND = Scenario(
    "iam-boundary-not-found",
    "right after CreatePolicy, CreateRole with that policy as its permissions boundary is answered "
    "NoSuchEntity 'Scope ARN: <policy arn> does not exist or is not attachable.'",
    "a second or two",
    IAM_CONSISTENCY,
    _rules(
        "iam:CreateRole=after-same:iam:CreatePolicy:2s:NoSuchEntity;"
        "message=Scope ARN: {PermissionsBoundary} does not exist or is not attachable."
    ),
)

LAMBDA_ROLE_NOT_ASSUMABLE = Scenario(
    "lambda-role-not-assumable",
    "CreateFunction with a role created seconds earlier is answered InvalidParameterValueException "
    "'The role defined for the function cannot be assumed by Lambda.'",
    "up to about 10 s",
    IAM_CONSISTENCY,
    _rules(
        "lambda:CreateFunction=after-same:iam:CreateRole:8s:InvalidParameterValueException;"
        "message=The role defined for the function cannot be assumed by Lambda."
    ),
)

LAMBDA_ROLE_POLICY_NOT_PROPAGATED = Scenario(
    "lambda-role-policy-not-propagated",
    "CreateEventSourceMapping right after the role's policy was put is answered "
    "InvalidParameterValueException 'The provided execution role does not have permissions to call "
    "ReceiveMessage on SQS'",
    "up to about 10 s",
    IAM_CONSISTENCY,
    _rules(
        "lambda:CreateEventSourceMapping=after:iam:PutRolePolicy:10s:InvalidParameterValueException;"
        "message=The provided execution role does not have permissions to call ReceiveMessage on SQS"
    ),
)

_PENDING = (
    "The operation cannot be performed at this time. The function is currently in the following state: "
    "Pending"
)
LAMBDA_FUNCTION_PENDING = Scenario(
    "lambda-function-pending",
    "a new function is State Pending (CreateFunction answers it, GetFunction reports it) until it is "
    "Active; meanwhile updates are answered ResourceConflictException "
    f"'{_PENDING}'",
    "a few seconds",
    LAMBDA_STATES,
    _rules(
        "lambda:CreateFunction=always:state:State=Pending,StateReasonCode=Creating",
        "lambda:GetFunction=after-same:lambda:CreateFunction:3s:state:Configuration.State=Pending",
        "lambda:GetFunctionConfiguration=after-same:lambda:CreateFunction:3s:state:State=Pending",
        f"lambda:UpdateFunction*=after-same:lambda:CreateFunction:3s:ResourceConflictException;message={_PENDING}",
        "lambda:PutFunctionConcurrency=after-same:lambda:CreateFunction:3s:ResourceConflictException;"
        f"message={_PENDING}",
    ),
)

_IN_PROGRESS = (
    "The operation cannot be performed at this time. An update is in progress for resource: {FunctionName}"
)
LAMBDA_UPDATE_IN_PROGRESS = Scenario(
    "lambda-update-in-progress",
    "after UpdateFunctionConfiguration or UpdateFunctionCode, LastUpdateStatus is InProgress until the "
    "update is done; meanwhile another update is answered ResourceConflictException "
    "'The operation cannot be performed at this time. An update is in progress for resource: <function "
    "arn>' (AWS names the function by its ARN; the rule by the name the call gave)",
    "a few seconds",
    LAMBDA_STATES,
    _rules(
        f"lambda:UpdateFunction*=after-same:lambda:UpdateFunction*:3s:ResourceConflictException;message={_IN_PROGRESS}",
        "lambda:UpdateFunction*=always:state:LastUpdateStatus=InProgress",
        "lambda:GetFunction=after-same:lambda:UpdateFunction*:3s:state:Configuration.LastUpdateStatus=InProgress",
        "lambda:GetFunctionConfiguration=after-same:lambda:UpdateFunction*:3s:state:LastUpdateStatus=InProgress",
    ),
)

SES_TARGETS_NOT_PROPAGATED = Scenario(
    "ses-targets-not-propagated",
    "SES checks a receipt rule's targets when the rule is written: right after the Lambda permission or "
    "the bucket policy was put, CreateReceiptRule and UpdateReceiptRule are answered InvalidLambdaFunction "
    "'Could not invoke Lambda function: <function arn>' or InvalidS3Configuration 'Could not write to "
    "bucket: <bucket>'",
    "a few seconds",
    "SES Developer Guide, 'Giving permissions to Amazon SES for email receiving'",
    _rules(
        *(
            f"ses:{operation}=after:lambda:AddPermission:5s:InvalidLambdaFunction;"
            "message=Could not invoke Lambda function: {FunctionArn}"
            for operation in ("CreateReceiptRule", "UpdateReceiptRule")
        ),
        *(
            f"ses:{operation}=after:s3:PutBucketPolicy:5s:InvalidS3Configuration;"
            "message=Could not write to bucket: {BucketName}"
            for operation in ("CreateReceiptRule", "UpdateReceiptRule")
        ),
    ),
)

SQS_QUEUE_DELETED_RECENTLY = Scenario(
    "sqs-queue-deleted-recently",
    "CreateQueue with the name of a queue deleted less than 60 s earlier is answered "
    "AWS.SimpleQueueService.QueueDeletedRecently 'You must wait 60 seconds after deleting a queue before "
    "you can create another with the same name.'",
    "60 s",
    "Amazon SQS API Reference, DeleteQueue and CreateQueue",
    _rules(
        "sqs:CreateQueue=after-same:sqs:DeleteQueue:60s:AWS.SimpleQueueService.QueueDeletedRecently;"
        "message=You must wait 60 seconds after deleting a queue before you can create another with the "
        "same name."
    ),
)

S3_BUCKET_NAME_NOT_RELEASED = Scenario(
    "s3-bucket-name-not-released",
    "CreateBucket with the name of a bucket deleted moments earlier is answered 409 OperationAborted "
    "'A conflicting conditional operation is currently in progress against this resource. Please try "
    "again.'",
    "seconds in the same region (can be much longer across regions)",
    "Amazon S3 User Guide, 'Deleting a bucket' (the name is released after a delay)",
    _rules(
        "s3:CreateBucket=after-same:s3:DeleteBucket:10s:OperationAborted;"
        "message=A conflicting conditional operation is currently in progress against this resource. "
        "Please try again."
    ),
)

_THROTTLES = {
    "iam": ("Throttling", "Rate exceeded"),
    "lambda": ("TooManyRequestsException", "Rate exceeded"),
    "s3": ("SlowDown", "Please reduce your request rate."),
    "sqs": ("RequestThrottled", "Request is throttled."),
    "ses": ("Throttling", "Rate exceeded"),
    "sesv2": ("TooManyRequestsException", "Rate exceeded"),
    "sns": ("Throttled", "Rate exceeded"),
    "dynamodb": ("ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "logs": ("ThrottlingException", "Rate exceeded"),
    "cloudwatch": ("Throttling", "Rate exceeded"),
    "sts": ("Throttling", "Rate exceeded"),
}


def throttling(share: float) -> Scenario:
    """``share`` of every call of every service Mailflow uses throttled, with that service's code."""
    return Scenario(
        "throttling",
        "any call may be throttled: Throttling (IAM, SES, CloudWatch, STS), TooManyRequestsException "
        "(Lambda, SES v2), SlowDown (S3, 503), RequestThrottled (SQS), Throttled (SNS, 429), "
        "ThrottlingException (DynamoDB, CloudWatch Logs)",
        "one call at a time; more under load",
        "each service's API reference, 'Common errors'",
        _rules(
            *(
                f"{service}:*={share}:{code};message={message}"
                for service, (code, message) in _THROTTLES.items()
            )
        ),
    )


def combined(name: str, behaviour: str, *parts: Scenario) -> Scenario:
    return Scenario(
        name,
        behaviour,
        "as each part",
        "; ".join(sorted({part.reference for part in parts})),
        tuple(rule for part in parts for rule in part.rules),
    )


FRESH_ACCOUNT = combined(
    "fresh-account",
    "everything a first deploy meets: IAM propagation, Lambda states, SES target checks",
    IAM_BOUNDARY_NOT_FOUND,
    IAM_ROLE_NOT_FOUND,
    LAMBDA_ROLE_NOT_ASSUMABLE,
    LAMBDA_ROLE_POLICY_NOT_PROPAGATED,
    LAMBDA_FUNCTION_PENDING,
    LAMBDA_UPDATE_IN_PROGRESS,
    SES_TARGETS_NOT_PROPAGATED,
)

EVENTUAL_CONSISTENCY = combined(
    "eventual-consistency",
    "the fresh account, and names released late after a delete (SQS queues, S3 buckets)",
    FRESH_ACCOUNT,
    SQS_QUEUE_DELETED_RECENTLY,
    S3_BUCKET_NAME_NOT_RELEASED,
)

DEFAULT_THROTTLING_SHARE = 0.1

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        IAM_ROLE_NOT_FOUND,
        IAM_BOUNDARY_NOT_FOUND,
        LAMBDA_ROLE_NOT_ASSUMABLE,
        LAMBDA_ROLE_POLICY_NOT_PROPAGATED,
        LAMBDA_FUNCTION_PENDING,
        LAMBDA_UPDATE_IN_PROGRESS,
        SES_TARGETS_NOT_PROPAGATED,
        SQS_QUEUE_DELETED_RECENTLY,
        S3_BUCKET_NAME_NOT_RELEASED,
        throttling(DEFAULT_THROTTLING_SHARE),
        FRESH_ACCOUNT,
        EVENTUAL_CONSISTENCY,
    )
}
