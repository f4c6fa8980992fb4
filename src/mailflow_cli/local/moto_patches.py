"""Patches to moto: the only place in Mailflow that knows the local endpoint is moto.

Written against moto 5.2.x (pyproject pins ``moto<5.3``); each patch checks that what it replaces still
looks the way it expects and fails loudly otherwise, so a moto upgrade cannot silently undo it.

Where moto differs from AWS (production code follows AWS; these make moto behave the same way):

1. SES ``DeleteReceiptRule`` is not implemented (NotImplementedError; HTTP 500 in server mode). Added
   with AWS's semantics: the set must exist; deleting a rule that is not there succeeds.
2. S3 ``CreateBucket`` ignores ``CreateBucketConfiguration.Tags`` (AWS applies them atomically).
3. Lambda drops ``DeadLetterConfig`` on create, get and update; it is kept and reported.
4. S3 evaluates bucket policies but ignores their conditions, so the stack's
   ``Deny s3:* when aws:SecureTransport is false`` denies every object request, and so do its
   ``Deny ... unless aws:PrincipalArn is the handler role`` statements. Those statements are left out
   of the evaluation (moto sees neither TLS nor a principal ARN); the rest of the policy is still
   evaluated.

5. SQS ``StartMessageMoveTask`` is not implemented (NotImplementedError in process, HTTP 500 in server
   mode). It answers with an ``UnsupportedOperation`` error instead, as an endpoint without the API
   would, so ``mailflow dlq redrive`` takes its copy-back path as it would there.
6. SQS gives a message it moved to a dead-letter queue no ``DeadLetterQueueSourceArn`` attribute. AWS
   reports the queue the message came from (``ReceiveMessage`` with ``MessageSystemAttributeNames`` All
   or DeadLetterQueueSourceArn); the copy-back path of ``mailflow dlq redrive`` returns a message only
   there. moto's move is recorded and the attribute reported the same way.
7. SES v2 has no configuration set event destinations, no account-level suppression list, no
   configuration set suppression options call and no ``GetAccount``; a missing configuration set is
   answered with SES v1's error code, and deleting one raises a KeyError; ``GetConfigurationSet``
   reports the tags the set was created with, not those Tag/UntagResource left, and a deleted set's
   tags outlive it. Added and corrected with AWS's semantics in :mod:`mailflow_cli.local.moto_sesv2`,
   and routed in moto's server as well as in process (its server answered them with an HTML 404).
8. SES ``SendEmail`` (v2) and ``SendEmail``/``SendRawEmail`` (v1) drop ``ConfigurationSetName`` and the
   message tags (``EmailTags``, v1 ``Tags``), accept a configuration set that does not exist and tags
   SES refuses, and record a raw message's header recipients as recipients even when the request names
   its own. Here the send is refused as SES refuses it (v2: ``NotFoundException``,
   ``BadRequestException``; v1: ``ConfigurationSetDoesNotExist``, ``InvalidParameterValue``), and the
   configuration set, the tags, the request's destinations and the time are kept with the sent message
   (:func:`send_options`, read under a lock with :func:`sent_mail`, so a reader never sees a message
   without them).
9. SNS ``Publish`` fails when one of the topic's SQS subscriptions cannot be delivered to (its queue was
   deleted): the subscriptions after it get nothing and the caller gets the queue's error. On AWS a
   delivery failure never fails ``Publish`` and every other subscription still gets the message; the
   failed delivery is logged and dropped here.

What only the emulator needs:

10. moto delivers a message to every Lambda event source mapping of a queue synchronously inside
    ``SendMessage`` (one message per invocation, ``batchItemFailures`` ignored, and without Docker the
    invocation fails). The emulator polls mappings itself (:mod:`mailflow_cli.local.esm_poller`), so the
    queue's mapping table is made permanently empty; ``ListEventSourceMappings`` still reports them.
11. moto runs a function's code in a Docker container, when Docker is reachable, for ``Invoke`` and for
    every notification that invokes a function. In the emulator every such invocation goes to the
    emulator's own runner instead (:func:`route_lambda_invocations`), which runs only Mailflow's handler;
    moto's Docker runner is never used.

Tests install 1-9 per test with :func:`install_moto_compat` (undone afterwards); the emulator process
calls :func:`apply` once for its lifetime, and :func:`route_lambda_invocations` once its runner exists.
Both work for ``mock_aws`` and an in-process ``ThreadedMotoServer``.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

log = logging.getLogger("mailflow.local.moto")

LambdaInvoke = Callable[[str, Any, str], tuple[bytes, bool]]
"""(function ARN, event, invocation type) -> (the response payload, whether the function failed)."""

_MISSING = object()
_applied = False
_lock = threading.Lock()


class MotoPatchError(RuntimeError):
    """The installed moto no longer has the shape these patches were written for."""


class _Patcher:
    def __init__(self) -> None:
        self.undo: list[tuple[type, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self.undo.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self.undo.clear()


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise MotoPatchError(what)


def _add_delete_receipt_rule(patch: _Patcher) -> None:
    from moto.core.responses import EmptyResult
    from moto.ses.exceptions import RuleSetDoesNotExist
    from moto.ses.models import SESBackend
    from moto.ses.responses import EmailResponse

    _require(hasattr(SESBackend, "create_receipt_rule"), "moto.ses.models.SESBackend has no receipt rules")

    def delete_receipt_rule(self: Any, rule_set_name: str, rule_name: str) -> None:
        rule_set = self.receipt_rule_set.get(rule_set_name)
        if rule_set is None:
            raise RuleSetDoesNotExist(f"Rule set does not exist: {rule_set_name}")
        rule_set.rules = [rule for rule in rule_set.rules if rule.get("Name") != rule_name]

    def delete_receipt_rule_response(self: Any) -> Any:
        self.backend.delete_receipt_rule(self._get_param("RuleSetName"), self._get_param("RuleName"))
        return EmptyResult()

    patch.set(SESBackend, "delete_receipt_rule", delete_receipt_rule)
    patch.set(EmailResponse, "delete_receipt_rule", delete_receipt_rule_response)


def _tag_buckets_at_creation(patch: _Patcher) -> None:
    from moto.s3.responses import S3Response

    _require(hasattr(S3Response, "_bucket_response_put"), "moto.s3.responses.S3Response changed")
    original = S3Response._bucket_response_put

    def bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        result = original(self, request, bucket_name, querystring)
        if not querystring and self.body:
            tags = {
                element.findtext("{*}Key"): element.findtext("{*}Value")
                for element in ElementTree.fromstring(self.body).iter()
                if element.tag.endswith("}Tag") or element.tag == "Tag"
            }
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return result

    patch.set(S3Response, "_bucket_response_put", bucket_response_put)


def _keep_dead_letter_config(patch: _Patcher) -> None:
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_get = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.mailflow_dead_letter_config = spec.get("DeadLetterConfig") or None

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        configuration: dict[str, Any] = original_get(self, *args, **kwargs)
        dead_letter = getattr(self, "mailflow_dead_letter_config", None)
        if dead_letter and dead_letter.get("TargetArn"):
            configuration["DeadLetterConfig"] = dead_letter
        return configuration

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in updates:
            self.mailflow_dead_letter_config = updates["DeadLetterConfig"] or None
        result: dict[str, Any] = original_update(self, updates)
        return result

    patch.set(LambdaFunction, "__init__", init)
    patch.set(LambdaFunction, "get_configuration", get_configuration)
    patch.set(LambdaFunction, "update_configuration", update_configuration)


def _evaluate_bucket_policies_without_tls_deny(patch: _Patcher) -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    _require(hasattr(FakeBucket, "get_permission"), "moto.s3.models.FakeBucket.get_permission is gone")

    def insecure_only(statement: dict[str, Any]) -> bool:
        return statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}

    def unless_principal(statement: dict[str, Any]) -> bool:
        """moto has no principal ARN to compare: its evaluation would deny everyone."""
        return statement.get("Effect") == "Deny" and "aws:PrincipalArn" in json.dumps(
            statement.get("Condition", {})
        )

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode())
        statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
        policy["Statement"] = [
            statement
            for statement in statements
            if not (insecure_only(statement) or unless_principal(statement))
        ]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    patch.set(FakeBucket, "get_permission", get_permission)


def _answer_move_task_unsupported(patch: _Patcher) -> None:
    from moto.sqs.exceptions import SQSException
    from moto.sqs.responses import SQSResponse

    _require(
        not hasattr(SQSResponse, "start_message_move_task"),
        "moto.sqs implements StartMessageMoveTask now: drop this patch",
    )

    def start_message_move_task(_self: Any) -> Any:
        raise SQSException("UnsupportedOperation", "StartMessageMoveTask is not available at this endpoint")

    patch.set(SQSResponse, "start_message_move_task", start_message_move_task)


_SOURCE_ARN = "DeadLetterQueueSourceArn"


def _report_dead_letter_sources(patch: _Patcher) -> None:
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    _require(
        "dead_letter_queue.add_message" in inspect.getsource(SQSBackend.receive_message),
        "moto.sqs.models.SQSBackend.receive_message no longer moves messages to the dead-letter queue",
    )
    original_receive = SQSBackend.receive_message
    original_response = SQSResponse.receive_message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        dead_letter_queue = queue.dead_letter_queue
        waiting = {id(message) for message in queue._messages} if dead_letter_queue is not None else set()
        received = original_receive(self, queue_name, *args, **kwargs)
        for message in dead_letter_queue._messages if waiting else ():
            if id(message) in waiting:  # moved by this receive
                message.mailflow_dead_letter_source_arn = queue.queue_arn
        return received

    def receive_message_response(self: Any) -> Any:
        result = original_response(self)
        asked = set(self._get_param("AttributeNames", [])) | set(
            self._get_param("MessageSystemAttributeNames", [])
        )
        if not asked & {"All", _SOURCE_ARN}:
            return result
        queue = self.sqs_backend.get_queue(self._get_queue_name())
        sources = {m.id: getattr(m, "mailflow_dead_letter_source_arn", None) for m in queue._messages}
        received = result.result
        for message in received.get("Messages", []) if isinstance(received, dict) else ():
            source = sources.get(message["MessageId"])
            if source:
                message.setdefault("Attributes", {})[_SOURCE_ARN] = source
        return result

    patch.set(SQSBackend, "receive_message", receive_message)
    patch.set(SQSResponse, "receive_message", receive_message_response)


def _disable_sqs_esm_delivery(patch: _Patcher) -> None:
    from moto.sqs.models import Queue

    _require(
        "lambda_event_source_mappings" in inspect.getsource(Queue.add_message),
        "moto.sqs.models.Queue.add_message no longer reads lambda_event_source_mappings",
    )

    def no_mappings(_queue: Any) -> dict[str, Any]:
        return {}

    def discard_mappings(_queue: Any, _value: Any) -> None:
        return None

    patch.set(Queue, "lambda_event_source_mappings", property(no_mappings, discard_mappings))


def _add_sesv2_apis(patch: _Patcher) -> None:
    from moto.sesv2.responses import SESV2Response

    from mailflow_cli.local import moto_sesv2

    _require(
        hasattr(SESV2Response, "sesv2_backend") and hasattr(SESV2Response, "get_configuration_set"),
        "moto.sesv2.responses.SESV2Response changed",
    )
    for install in moto_sesv2.PATCHES:
        install(patch)


def _keep_ses_send_options(patch: _Patcher) -> None:
    from moto.ses.responses import EmailResponse
    from moto.sesv2.responses import SESV2Response

    from mailflow_cli.local import moto_ses_send

    _require(
        "send_raw_email" in inspect.getsource(SESV2Response.send_email)
        and hasattr(EmailResponse, "send_raw_email"),
        "moto's SES SendEmail/SendRawEmail responses changed",
    )
    moto_ses_send.keep_send_options(patch)


def _sns_delivery_failures_do_not_fail_publish(patch: _Patcher) -> None:
    from moto.sns.models import Subscription

    _require(hasattr(Subscription, "publish"), "moto.sns.models.Subscription.publish is gone")
    original = Subscription.publish

    def publish(self: Any, message: str, message_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, message, message_id, *args, **kwargs)
        except Exception as exc:  # any delivery failure: SNS drops it, Publish succeeds
            log.warning("SNS could not deliver %s to %s (%s): dropped", message_id, self.endpoint, exc)

    patch.set(Subscription, "publish", publish)


_AWS_FIDELITY = (
    _add_delete_receipt_rule,
    _tag_buckets_at_creation,
    _keep_dead_letter_config,
    _evaluate_bucket_policies_without_tls_deny,
    _answer_move_task_unsupported,
    _report_dead_letter_sources,
    _add_sesv2_apis,
    _keep_ses_send_options,
    _sns_delivery_failures_do_not_fail_publish,
)


def install_moto_compat(*, emulator: bool = False) -> Callable[[], None]:
    """Patch moto's classes in this process (1-9, and 10 with ``emulator``); return the undo
    function."""
    patch = _Patcher()
    try:
        for install in _AWS_FIDELITY:
            install(patch)
        if emulator:
            _disable_sqs_esm_delivery(patch)
    except Exception:
        patch.restore()
        raise
    return patch.restore


def apply() -> None:
    """The emulator process: every patch, once, for the life of the process (thread-safe)."""
    global _applied  # noqa: PLW0603 - a process-wide, apply-once switch
    with _lock:
        if not _applied:
            install_moto_compat(emulator=True)
            _applied = True


def route_lambda_invocations(invoke: LambdaInvoke) -> Callable[[], None]:
    """The emulator: Lambda's Invoke, and every moto path that runs a function, calls ``invoke``; moto's
    Docker runner raises. Returns the undo function."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaFunction

    _require(
        "_invoke_lambda" in inspect.getsource(LambdaFunction.invoke),
        "moto.awslambda.models.LambdaFunction.invoke no longer runs functions through _invoke_lambda",
    )

    def run(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            message = "Could not parse request body into json"
            raise LambdaClientError("InvalidRequestContentException", message) from None
        invocation_type = str((request_headers or {}).get("x-amz-invocation-type") or "RequestResponse")
        payload, failed = invoke(self.function_arn, event, invocation_type)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    def no_docker(self: Any, event: Any = None) -> Any:
        raise MotoPatchError("the emulator runs functions itself; moto's Docker runner is not used")

    patch = _Patcher()
    patch.set(LambdaFunction, "invoke", run)
    patch.set(LambdaFunction, "_invoke_lambda", no_docker)
    return patch.restore
