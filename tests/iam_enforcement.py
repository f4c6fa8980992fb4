"""IAM as AWS evaluates it, for the tests: what a request needs authorised, and whether identity policies
allow it. Installed into moto (:func:`iam_enforced`), it replaces moto's own check.

moto 5.2 checks a request's action only: against the resource "*" for every service but SQS, IAM and STS
(``_determine_resource``), so a statement scoped to an ARN never matches and the call is denied; it names
the action after the signing name and operation (``monitoring:PutMetricAlarm``, and for S3 a label of its
own, ``ListBucket`` for a GetBucketEncryption); and it evaluates no condition it has no value for. Here,
following the Service Authorization Reference (parliament's ``iam_definition.json`` gives each action's
resource types, their ARN formats and the condition keys it supports):

- the IAM action of each operation, where it differs from the operation's name (:data:`ACTION_OF`);
- the authorisations AWS adds to an operation (:func:`_implied`): ``iam:PassRole`` for a function's role,
  ``<service>:Tag…`` for tags given at creation, ``lambda:ListTags`` for GetFunction's tags, the queue
  permissions of a message move task, the recipients' identities of an SES send (sandbox);
- the resource ARN(s) each authorisation is about, from the request's parameters (one per object of a
  DeleteObjects, one per alarm of a DeleteAlarms), and "*" for actions without resource types or for a
  listing that names none;
- the condition keys Mailflow's policies use, with the values AWS gives them: ``iam:PermissionsBoundary``
  (the request's boundary, or the role's present one), ``iam:PassedToService``, ``lambda:Principal``,
  ``lambda:FunctionArn`` (the mapping's function, looked up for Update/Delete),
  ``ses:FromAddress``, and Route 53's ``ChangeResourceRecordSets*`` keys;
- explicit Deny over Allow, wildcards in actions (any case) and resources, ``ForAllValues``/
  ``ForAnyValue``/``IfExists`` and the negated operators; an operator or policy element it does not
  know fails the test instead of being ignored.

Not modelled (and not used by Mailflow's policies): global condition keys (``aws:*``), policy variables,
resource-based policies, SCPs and permissions boundaries of the caller. ``sts:GetCallerIdentity`` is
always allowed, as in AWS.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

from parliament import iam_definition

PARTITION = "aws"
Context = Mapping[str, tuple[str, ...]]


class Unmodelled(Exception):
    """A request, policy element or operator this module does not know: teach it rather than guess."""


@dataclass(frozen=True)
class Request:
    """One AWS API request as IAM sees it: the botocore service and operation names and parameters."""

    service: str
    operation: str
    params: Mapping[str, Any]
    account: str
    region: str


@dataclass(frozen=True)
class Check:
    """One authorisation AWS makes for a request."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    check: Check
    allowed: bool
    why: str


class World:
    """The state IAM reads while authorising (a role's boundary and path, a mapping's function, a
    dead-letter queue's sources), from moto's backends in this process."""

    def role(self, account: str, name: str) -> Any:
        from moto.iam.models import iam_backends

        roles = [role for role in iam_backends[account][PARTITION].roles.values() if role.name == name]
        return roles[0] if roles else None

    def role_boundary(self, account: str, name: str) -> str | None:
        role = self.role(account, name)
        return role.permissions_boundary_arn if role is not None else None

    def role_path(self, account: str, name: str) -> str:
        role = self.role(account, name)
        return str(role.path) if role is not None else "/"

    def mapping_function(self, account: str, region: str, uuid: str) -> str | None:
        from moto.awslambda.models import lambda_backends

        mapping = lambda_backends[account][region].get_event_source_mapping(uuid)
        return None if mapping is None else str(mapping.function_arn)

    def query_log_groups(self, account: str, region: str, query_id: str) -> list[str]:
        from moto.logs.models import logs_backends

        query = logs_backends[account][region].queries.get(query_id)
        if query is None:
            raise Unmodelled(f"the Logs Insights query {query_id} (not started in this moto)")
        return list(query.log_group_names)

    def dead_letter_sources(self, account: str, region: str, queue_arn: str) -> list[str]:
        from moto.sqs.models import sqs_backends

        return [
            queue.queue_arn
            for queue in sqs_backends[account][region].queues.values()
            if (queue.redrive_policy or {}).get("deadLetterTargetArn") == queue_arn
        ]


# The action of each authorisation ------------------------------------------------------------------------
IAM_PREFIX = {"sesv2": "ses"}
ACTION_OF = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3:HeadObject": "s3:GetObject",
    "s3:CopyObject": "s3:PutObject",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "lambda:Invoke": "lambda:InvokeFunction",
}
"""Operations authorised as an action of another name (Service Authorization Reference)."""

ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


def action_of(request: Request) -> str:
    name = f"{IAM_PREFIX.get(request.service, request.service)}:{request.operation}"
    if name in ("s3:GetObject", "s3:HeadObject", "s3:DeleteObject") and request.params.get("VersionId"):
        return name.replace("HeadObject", "GetObject") + "Version"
    if name == "ses:SendEmail" and request.service == "sesv2" and "Raw" in request.params.get("Content", {}):
        return "ses:SendRawEmail"
    return ACTION_OF.get(name, name)


REFERENCE_SERVICE = {"ses": "Amazon SES", "sesv2": "Amazon Simple Email Service v2"}
"""Where several services of the reference share a prefix, the one each botocore service is."""


def _privilege(action: str, service: str = "") -> dict[str, Any]:
    prefix, name = action.split(":", 1)
    candidates = [s for s in iam_definition if s["prefix"] == prefix]
    candidates.sort(key=lambda s: s["service_name"] != REFERENCE_SERVICE.get(service))
    for entry in candidates:
        for privilege in entry["privileges"]:
            if privilege["privilege"].lower() == name.lower():
                return {**privilege, "service_resources": entry["resources"]}
    raise Unmodelled(f"{action} is not an IAM action of the Service Authorization Reference")


# The resources of each authorisation ----------------------------------------------------------------------
def _name(value: str, after: str) -> str:
    """The part of an ARN (or a bare name) after ``after``."""
    return value.split(after, 1)[1] if after in value else value


def _resource_values(placeholder: str, request: Request, world: World) -> list[str]:
    """The values of an ARN placeholder that the request's parameters give (none: it names no such
    resource)."""
    p = request.params
    if placeholder == "QueueName":
        if "QueueUrl" in p:
            return [str(p["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]]
        if "QueueName" in p:
            return [str(p["QueueName"])]
        if "SourceArn" in p:
            return [str(p["SourceArn"]).rsplit(":", 1)[-1]]
    if placeholder == "BucketName" and "Bucket" in p:
        return [str(p["Bucket"])]
    if placeholder == "ObjectName" and "Key" in p:
        return [str(p["Key"])]
    if placeholder == "FunctionName":
        given = p.get("FunctionName") or p.get("Resource")
        if given:
            return [_name(str(given), ":function:").split(":", 1)[0]]
    if placeholder == "UUID" and "UUID" in p:
        return [str(p["UUID"])]
    if placeholder == "TableName":
        given = p.get("TableName") or p.get("ResourceArn")
        if given:
            return [_name(str(given), ":table/")]
    if placeholder == "LogGroupName":
        given = p.get("logGroupName") or p.get("resourceArn")
        if given:
            return [_name(str(given), ":log-group:").removesuffix(":*")]
    if placeholder == "RoleNameWithPath":
        if "RoleArn" in p:
            return [_name(str(p["RoleArn"]), ":role/")]
        given = p.get("RoleName")
        if given:
            return [world.role_path(request.account, str(given)).lstrip("/") + str(given)]
    if placeholder == "PolicyNameWithPath":
        if "PolicyArn" in p:
            return [_name(str(p["PolicyArn"]), ":policy/")]
        if "PolicyName" in p:
            return [str(p.get("Path", "/")).lstrip("/") + str(p["PolicyName"])]
    if placeholder == "UserNameWithPath" and "UserName" in p:
        return [str(p["UserName"])]
    if placeholder == "TopicName":
        given = p.get("TopicArn") or p.get("ResourceArn") or p.get("Name")
        if given:
            return [str(given).rsplit(":", 1)[-1]]
    if placeholder == "AlarmName":
        if "AlarmNames" in p:
            return [str(name) for name in p["AlarmNames"]]
        given = p.get("AlarmName") or p.get("ResourceARN")
        if given:
            return [_name(str(given), ":alarm:")]
    if placeholder == "Id":
        given = p.get("HostedZoneId") or p.get("Id")
        if given:
            return [str(given).rsplit("/", 1)[-1]]
    if placeholder == "ConfigurationSetName":
        given = p.get("ConfigurationSetName") or p.get("ResourceArn")
        if given:
            return [str(given).rsplit("configuration-set/", 1)[-1]]
    if placeholder == "IdentityName":
        sender = p.get("Source") or p.get("FromEmailAddress")
        if sender:
            return [_address_domain(str(sender))]
    return []


def _address_domain(address: str) -> str:
    return address.rsplit("<", 1)[-1].rstrip(">").rsplit("@", 1)[-1].lower()


LISTINGS = frozenset({"cloudwatch:DescribeAlarms"})
"""Actions with a resource type that a request may leave unnamed (a listing by prefix): AWS then
authorises against "*" (for DescribeAlarms its API reference says so, composite alarms included)."""


def resources(action: str, request: Request, world: World) -> list[str]:
    """The ARNs of the action's required resource types; an action whose types are all optional (the
    generic tagging actions) is about the types the request names; "*" when it names none."""
    privilege = _privilege(action, request.service)
    kinds = [kind["resource_type"] for kind in privilege["resource_types"] if kind["resource_type"]]
    required = [kind[:-1] for kind in kinds if kind.endswith("*")]
    if action in LISTINGS and not request.params.get("AlarmNames"):
        return ["*"]
    if action == "logs:GetQueryResults":  # the request names the query; IAM checks its log groups
        return [
            f"arn:{PARTITION}:logs:{request.region}:{request.account}:log-group:{group}"
            for group in world.query_log_groups(
                request.account, request.region, str(request.params["queryId"])
            )
        ]
    formats = {resource["resource"]: resource["arn"] for resource in privilege["service_resources"]}
    arns: list[str] = []
    for kind in required or kinds:
        found = _arns(formats[kind], request, world)
        if not found and required:
            raise Unmodelled(
                f"cannot tell the {kind} of {request.service}:{request.operation} {request.params}"
            )
        arns += found
    return arns or ["*"]


def _arns(template: str, request: Request, world: World) -> list[str]:
    filled = [
        template.replace("${Partition}", PARTITION)
        .replace("${Region}", request.region)
        .replace("${Account}", request.account)
    ]
    for placeholder in re.findall(r"\$\{(\w+)\}", filled[0]):
        values = _resource_values(placeholder, request, world)
        filled = [arn.replace(f"${{{placeholder}}}", value) for arn in filled for value in values]
    return filled


# The condition keys the request provides ------------------------------------------------------------------
def _function_arn(request: Request, given: str) -> str:
    if given.startswith("arn:"):
        return given
    return f"arn:{PARTITION}:lambda:{request.region}:{request.account}:function:{given}"


def context_of(action: str, request: Request, world: World) -> dict[str, tuple[str, ...]]:
    p = request.params
    context: dict[str, tuple[str, ...]] = {}
    if action.startswith("iam:") and "RoleName" in p:
        boundary = p.get("PermissionsBoundary") or (
            None if action == "iam:CreateRole" else world.role_boundary(request.account, str(p["RoleName"]))
        )
        if boundary:
            context["iam:PermissionsBoundary"] = (str(boundary),)
    if action == "lambda:AddPermission":
        context["lambda:Principal"] = (str(p["Principal"]),)
    if action in ("lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping") and p.get(
        "FunctionName"
    ):
        context["lambda:FunctionArn"] = (_function_arn(request, str(p["FunctionName"])),)
    elif action.endswith("EventSourceMapping") and "UUID" in p:
        function = world.mapping_function(request.account, request.region, str(p["UUID"]))
        if function:
            context["lambda:FunctionArn"] = (function,)
    sender = p.get("Source") or p.get("FromEmailAddress")
    if action in ("ses:SendRawEmail", "ses:SendEmail") and sender:
        context["ses:FromAddress"] = (_address(str(sender)),)
    if action == "route53:ChangeResourceRecordSets":
        changes = p.get("ChangeBatch", {}).get("Changes", [])
        record_sets = [change["ResourceRecordSet"] for change in changes]
        context["route53:ChangeResourceRecordSetsNormalizedRecordNames"] = tuple(
            str(record["Name"]).rstrip(".").lower() for record in record_sets
        )
        context["route53:ChangeResourceRecordSetsRecordTypes"] = tuple(str(r["Type"]) for r in record_sets)
        context["route53:ChangeResourceRecordSetsActions"] = tuple(str(c["Action"]) for c in changes)
    return context


def _address(source: str) -> str:
    return source.rsplit("<", 1)[-1].rstrip(">").strip()


# Every authorisation of a request -------------------------------------------------------------------------
def checks(request: Request, world: World) -> list[Check]:
    action = action_of(request)
    if action in ALWAYS_ALLOWED:
        return []
    if request.service == "s3" and request.operation == "DeleteObjects":
        return [
            _object_check(request, world, item)
            for item in request.params.get("Delete", {}).get("Objects", [])
        ]
    found = [
        Check(action, arn, context_of(action, request, world)) for arn in resources(action, request, world)
    ]
    return found + _implied(request, world)


def _object_check(request: Request, world: World, item: Mapping[str, Any]) -> Check:
    single = Request(
        "s3", "DeleteObject", {"Bucket": request.params["Bucket"], **item}, request.account, request.region
    )
    action = action_of(single)
    [arn] = resources(action, single, world)
    return Check(action, arn)


def _also(request: Request, world: World, action: str, **params: Any) -> list[Check]:
    """``action`` as well, about the resource ``params`` name (the request's own by default)."""
    other = Request(
        request.service, request.operation, {**request.params, **params}, request.account, request.region
    )
    return [Check(action, arn, context_of(action, other, world)) for arn in resources(action, other, world)]


def _pass_role(request: Request, service: str) -> list[Check]:
    return [Check("iam:PassRole", str(request.params["Role"]), {"iam:PassedToService": (service,)})]


def _implied(request: Request, world: World) -> list[Check]:
    p, operation = request.params, f"{request.service}:{request.operation}"
    found: list[Check] = []
    tagged = {
        "s3:CreateBucket": bool(p.get("CreateBucketConfiguration", {}).get("Tags")),
        "sqs:CreateQueue": bool(p.get("tags")),
        "dynamodb:CreateTable": bool(p.get("Tags")),
        "logs:CreateLogGroup": bool(p.get("tags")),
        "sns:CreateTopic": bool(p.get("Tags")),
        "cloudwatch:PutMetricAlarm": bool(p.get("Tags")),
        "iam:CreateRole": bool(p.get("Tags")),
        "iam:CreatePolicy": bool(p.get("Tags")),
        "lambda:CreateFunction": bool(p.get("Tags")),
    }
    tag_action = {
        "s3:CreateBucket": "s3:TagResource",
        "sqs:CreateQueue": "sqs:TagQueue",
        "iam:CreateRole": "iam:TagRole",
        "iam:CreatePolicy": "iam:TagPolicy",
    }
    if tagged.get(operation):
        action = tag_action.get(operation, f"{request.service}:TagResource")
        if action == "s3:TagResource":  # the reference predates tagging buckets with it
            found.append(Check(action, f"arn:{PARTITION}:s3:::{p['Bucket']}"))
        else:
            found += _also(request, world, action)
    if operation == "lambda:CreateFunction" or (
        operation == "lambda:UpdateFunctionConfiguration" and "Role" in p
    ):
        found += _pass_role(request, "lambda.amazonaws.com")
    if operation == "lambda:GetFunction":  # its tags (Mailflow's ownership check) come only with this
        found += _also(request, world, "lambda:ListTags")
    if operation == "sqs:StartMessageMoveTask":
        source = str(p["SourceArn"])
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            found.append(Check(action, source))
        destinations = [p["DestinationArn"]] if p.get("DestinationArn") else None
        for arn in destinations or world.dead_letter_sources(request.account, request.region, source):
            found.append(Check("sqs:SendMessage", str(arn)))
    if operation == "ses:SendRawEmail":  # the SES sandbox also authorises against each recipient's identity
        for recipient in p.get("Destinations", []):
            domain = _address_domain(str(recipient))
            found.append(
                Check(
                    "ses:SendRawEmail",
                    f"arn:{PARTITION}:ses:{request.region}:{request.account}:identity/{domain}",
                    context_of("ses:SendRawEmail", request, world),
                )
            )
    return found


# Evaluation ------------------------------------------------------------------------------------------------
def _listed(value: Any) -> list[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: ``*`` any characters, ``?`` one, everything else literally."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches(pattern: str, value: str, operator: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return pattern == value
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return pattern.lower() == value.lower()
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        return _wildcard(pattern, value)
    if operator == "Bool":
        return pattern.lower() == value.lower()
    raise Unmodelled(f"the condition operator {operator}")


def _condition_holds(qualified: str, key: str, expected: list[str], context: Context) -> bool:
    operator, if_exists = qualified.removesuffix("IfExists"), qualified.endswith("IfExists")
    quantifier, _, operator = operator.rpartition(":")
    negated = "Not" in operator
    values = context.get(key)
    if quantifier == "ForAllValues":
        return all(any(_matches(e, v, operator) for e in expected) != negated for v in values or ())
    if quantifier == "ForAnyValue":
        return any(any(_matches(e, v, operator) for e in expected) != negated for v in values or ())
    if quantifier:
        raise Unmodelled(f"the condition set operator {quantifier}")
    if not values:
        return if_exists or negated
    return any(_matches(e, values[0], operator) for e in expected) != negated


def _applies(statement: Mapping[str, Any], check: Check) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown:
        raise Unmodelled(f"the policy element(s) {sorted(unknown)} in {statement}")
    if not any(
        _wildcard(pattern, check.action, ignore_case=True) for pattern in _listed(statement["Action"])
    ):
        return False
    if not any(_wildcard(pattern, check.resource) for pattern in _listed(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, _listed(expected), check.context)
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def decide(policies: Sequence[Mapping[str, Any]], check: Check) -> Decision:
    """Explicit Deny first, then any Allow; otherwise the implicit deny."""
    statements = [s for policy in policies for s in _listed_statements(policy)]
    for statement in statements:
        if statement["Effect"] == "Deny" and _applies(statement, check):
            return Decision(check, False, f"with an explicit deny ({statement.get('Sid', 'a statement')})")
    for statement in statements:
        if statement["Effect"] == "Allow" and _applies(statement, check):
            return Decision(check, True, f"allowed by {statement.get('Sid', 'a statement')}")
    return Decision(check, False, f"because no identity-based policy allows the {check.action} action")


def _listed_statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy["Statement"]
    return list(statements) if isinstance(statements, list) else [statements]


# moto ------------------------------------------------------------------------------------------------------
@dataclass
class Recorded:
    principal: str
    request: Request
    decision: Decision


@dataclass
class EnforcementLog:
    """Every authorisation the enforced moto made, in order."""

    entries: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: Recorded) -> None:
        with self._lock:
            self.entries.append(entry)

    def of(self, principal_suffix: str) -> list[Recorded]:
        return [entry for entry in self.entries if entry.principal.endswith(principal_suffix)]

    @staticmethod
    def denied(entries: Sequence[Recorded]) -> list[str]:
        return [
            f"{e.request.service}:{e.request.operation} needs {e.decision.check.action} on "
            f"{e.decision.check.resource} {dict(e.decision.check.context) or ''}: denied {e.decision.why}"
            for e in entries
            if not e.decision.allowed
        ]


_BUCKET_SUBRESOURCES = {
    "tagging": "BucketTagging",
    "encryption": "BucketEncryption",
    "publicAccessBlock": "PublicAccessBlock",
    "lifecycle": "BucketLifecycleConfiguration",
    "policy": "BucketPolicy",
}


def _s3_operation(method: str, query: set[str], has_key: bool, headers: Mapping[str, str]) -> str:
    """The S3 operation of a REST request, for the requests Mailflow makes."""
    if has_key:
        if "tagging" in query:
            return {"GET": "GetObjectTagging", "PUT": "PutObjectTagging", "DELETE": "DeleteObjectTagging"}[
                method
            ]
        if method == "PUT":
            return "CopyObject" if "x-amz-copy-source" in {k.lower() for k in headers} else "PutObject"
        return {"HEAD": "HeadObject", "GET": "GetObject", "DELETE": "DeleteObject"}[method]
    for subresource, name in _BUCKET_SUBRESOURCES.items():
        if subresource in query:
            prefix = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}[method]
            return f"{prefix}{name}"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "GET":
        if "versions" in query:
            return "ListObjectVersions"
        if "location" in query:
            return "GetBucketLocation"
        return "ListObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}[method]


def _s3_request(response: Any, resource: str) -> Request:
    bucket, _, key = resource.removeprefix(f"arn:{PARTITION}:s3:::").partition("/")
    query = parse_qs(urlparse(response.uri).query, keep_blank_values=True)
    try:
        operation = _s3_operation(response.method, set(query), bool(key), dict(response.headers))
    except KeyError as exc:
        raise Unmodelled(f"the S3 request {response.method} {response.uri}") from exc
    params: dict[str, Any] = {"Bucket": bucket}
    if key:
        params["Key"] = key
    if "versionId" in query:
        params["VersionId"] = query["versionId"][0]
    body = (
        response.raw_body.decode() if isinstance(response.raw_body, bytes) else str(response.raw_body or "")
    )
    if operation == "DeleteObjects":
        params["Delete"] = {"Objects": _xml_objects(body)}
    if operation == "CreateBucket" and "<Tag>" in body:
        params["CreateBucketConfiguration"] = {"Tags": ["(given)"]}
    return Request("s3", operation, params, response.current_account, response.region)


def _xml_objects(body: str) -> list[dict[str, str]]:
    root = ElementTree.fromstring(body)
    objects = []
    for item in root.iter():
        if item.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in item}
        objects.append({k: v for k, v in fields.items() if k in ("Key", "VersionId")})
    return objects


def _service_request(response: Any) -> Request:
    operation = response._get_action()
    missing = object()
    before = response.__dict__.get("params", missing)
    response.parse_parameters(response.normalized_request)
    params = dict(response.params)
    if before is missing:
        del response.params
    else:
        response.params = before
    return Request(response.boto3_service_name, operation, params, response.current_account, response.region)


_current = threading.local()


@contextmanager
def iam_enforced(log: EnforcementLog, world: World | None = None) -> Iterator[None]:
    """moto authorises every request as :func:`decide` does, recording each decision in ``log``, once
    its IAM enforcement is on (``INITIAL_NO_AUTH_ACTION_COUNT``; see :func:`enforcement_on`)."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMPolicy, IAMRequestBase, S3IAMRequest
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    state = world or World()
    original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    original_check = IAMRequestBase.check_action_permitted
    original_signed = IAMRequestBase._create_aws_request

    def signed_request(iam_request: Any) -> Any:
        """The request as signed. moto signs a request without a body over its parameters, which for a
        REST GET, HEAD or DELETE are its headers, and so rejects the SDK's correct signature of the empty
        body (SignatureDoesNotMatch)."""
        request = original_signed(iam_request)
        if iam_request._method in ("GET", "HEAD", "DELETE") and not iam_request._body:
            request.data = b""
        return request

    def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        is_s3 = isinstance(response, S3Response)
        _current.request = lambda: _s3_request(response, resource) if is_s3 else _service_request(response)
        try:
            original_authorize(response, iam_request_cls, resource)
        except Denied as denied:
            raise _answer(response, str(denied)) from None
        finally:
            _current.request = None

    def check_action_permitted(iam_request: Any, resource: str) -> None:
        request = _current.request()
        principal = iam_request._access_key.arn
        policies = [IAMPolicy(policy)._policy_json for policy in iam_request._access_key.collect_policies()]
        for check in checks(request, state):
            decision = decide(policies, check)
            log.add(Recorded(principal, request, decision))
            if not decision.allowed:  # in AWS's words
                message = (
                    f"User: {principal} is not authorized to perform: {check.action} on resource: "
                    f"{check.resource} {decision.why}"
                )
                if isinstance(iam_request, S3IAMRequest):
                    raise S3ClientError("AccessDenied", message)
                raise Denied(message)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    IAMRequestBase.check_action_permitted = check_action_permitted
    IAMRequestBase._create_aws_request = signed_request
    try:
        yield
    finally:
        ActionAuthenticatorMixin._authenticate_and_authorize_action = original_authorize
        IAMRequestBase.check_action_permitted = original_check
        IAMRequestBase._create_aws_request = original_signed


class Denied(Exception):
    """A request IAM denies (its message as AWS words it)."""


def _answer(response: Any, message: str) -> Exception:
    """AccessDenied in the protocol the client speaks (moto answers an XML body to every client, which a
    JSON or CBOR client cannot read): the code a query service gives, or a JSON service's."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model
    from werkzeug.exceptions import HTTPException

    class AccessDenied(ServiceException):
        """Of no moto service's module: serialised in the model of the request's service."""

    protocol = response.determine_response_protocol(get_service_model(response.boto3_service_name))
    code = "AccessDenied" if protocol in ("query", "ec2", "rest-xml") else "AccessDeniedException"
    with warnings.catch_warnings():  # the code is in no service's model: moto says so, and serialises it
        warnings.simplefilter("ignore", UserWarning)
        _, headers, body = response.serialized(ActionResult(AccessDenied(code, message)))
    response.response_headers.update({k: v for k, v in headers.items() if k != "status"})
    answer = HTTPException(description=body)
    answer.code = 403
    return answer


@contextmanager
def enforcement_on() -> Iterator[None]:
    """moto's IAM enforcement on from now on (every request after this one is authorised)."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        yield


# The same decisions for calls made in this process (mock_aws): a botocore call recorder ---------------------
Policy = Mapping[str, Any]


@dataclass
class CallChecker:
    """Decides every AWS call made through ``BaseClient._make_api_call`` against the policy that
    :attr:`policy_of` gives for it at that moment (``None``: the call is not checked), before moto runs
    it, as AWS authorises before acting."""

    policy_of: Callable[[Request], Policy | None]
    world: World = field(default_factory=World)
    log: EnforcementLog = field(default_factory=EnforcementLog)

    def __call__(self, service: str, operation: str, params: Mapping[str, Any], region: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID

        request = Request(service, operation, dict(params), DEFAULT_ACCOUNT_ID, region)
        policy = self.policy_of(request)
        if policy is None:
            return
        for check in checks(request, self.world):
            self.log.add(Recorded("recorded", request, decide([policy], check)))


@contextmanager
def recording_calls(checker: CallChecker) -> Iterator[None]:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        checker(client.meta.service_model.service_name, operation_name, api_params, client.meta.region_name)
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = recording
    try:
        yield
    finally:
        BaseClient._make_api_call = original
