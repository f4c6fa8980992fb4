"""One boto3 session per command: credentials and endpoint from the standard chain, retries from botocore.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` variables (boto3 honours them) or, with
``--local``, from the running local emulator. Nothing here knows what is behind the endpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailflow_cli.errors import AwsError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

RETRY_MAX_ATTEMPTS = 8
"""botocore's ``max_attempts``: retries after the first attempt (so a call is tried 9 times at most)."""
TOTAL_ATTEMPTS = RETRY_MAX_ATTEMPTS + 1
MAX_POOL_CONNECTIONS = 32
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
"""What AWS services answer a throttled call with (botocore's standard mode retries them all, SNS's
``Throttled`` by its 429 status)."""
_SERVICE = "ServiceName"


@dataclass(frozen=True)
class AwsTarget:
    """Where the calls go: a profile and region, and an explicit endpoint only for ``--local``."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None


@dataclass
class AwsClients:
    """Creates each client once (clients are thread-safe; sessions are not, so this holds a lock)."""

    target: AwsTarget
    event_hooks: list[tuple[str, Any]] = field(default_factory=list)
    _session: boto3.Session | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _account_id: str | None = None

    def _config(self) -> Config:
        from botocore.config import Config

        return Config(
            region_name=self.target.region,
            retries={"mode": "standard", "max_attempts": RETRY_MAX_ATTEMPTS},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            user_agent_extra="mailflow-cli",
        )

    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            self._session = boto3.Session(
                profile_name=self.target.profile,
                region_name=self.target.region,
                aws_access_key_id=self.target.access_key,
                aws_secret_access_key=self.target.secret_key,
                botocore_session=_botocore_session(),
            )
        return self._session

    def client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self.session().client(
                    service,  # type: ignore[call-overload]
                    config=self._config(),
                    endpoint_url=self.target.endpoint_url,
                )
                client.meta.events.register("after-call", _name_the_service)
                for event, handler in self.event_hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return client

    def account_id(self) -> str:
        if self._account_id is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self._account_id = str(self.client("sts").get_caller_identity()["Account"])
            except ClientError as exc:
                raise translate_client_error(exc, "the AWS account (sts:GetCallerIdentity)") from exc
            except BotoCoreError as exc:
                raise translate_botocore_error(exc) from exc
        return self._account_id


def _name_the_service(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """An error answer keeps the name of the service that gave it: botocore's ClientError names only the
    operation, and a message should name the whole call (``sqs CreateQueue``)."""
    if "Error" in parsed:
        parsed.setdefault("ResponseMetadata", {})[_SERVICE] = model.service_model.service_name


def call_name(exc: Exception) -> str:
    """``<service> <operation>`` of a botocore ClientError (the operation alone if the service is unknown)."""
    operation = str(getattr(exc, "operation_name", "call"))
    response = getattr(exc, "response", None)
    service = response.get("ResponseMetadata", {}).get(_SERVICE) if isinstance(response, dict) else None
    return f"{service} {operation}" if service else operation


_LOADER_LOCK = threading.Lock()
_SHARED_LOADER: Any = None


def _botocore_session() -> Any:
    """A fresh botocore session sharing one model loader: service models are parsed once per process."""
    import botocore.loaders
    import botocore.session

    global _SHARED_LOADER  # noqa: PLW0603
    with _LOADER_LOCK:
        if _SHARED_LOADER is None:
            _SHARED_LOADER = botocore.loaders.create_loader()
        loader = _SHARED_LOADER
    session = botocore.session.Session()
    session.register_component("data_loader", loader)
    return session


def translate_client_error(exc: Exception, resource: str) -> AwsError:
    """One sentence naming the resource, the cause and what to do about it."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return AwsError(f"{resource}: {exc}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip()
    operation = exc.operation_name
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}:
        return AwsError(
            f"{resource}: access denied for {operation} ({message})",
            hint="the credentials in use lack this permission; see docs/permissions.md for the policy "
            "Mailflow needs, or choose another --profile",
        )
    if code in {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
    }:
        return AwsError(
            f"{resource}: the AWS credentials were rejected ({code})",
            hint="refresh them (for SSO: aws sso login) or choose another --profile",
        )
    if code in {"LimitExceededException", "LimitExceeded", "ServiceQuotaExceededException", "TooManyBuckets"}:
        return AwsError(
            f"{resource}: an AWS quota was reached during {operation} ({message})",
            hint="raise the quota in the Service Quotas console, or remove unused resources",
        )
    if code in THROTTLING_CODES:
        return AwsError(
            f"{resource}: AWS kept throttling {call_name(exc)} ({code}) through {TOTAL_ATTEMPTS} attempts",
            hint="wait a minute and run the command again",
        )
    return AwsError(f"{resource}: {operation} failed: {code}: {message}")


def translate_botocore_error(exc: Exception) -> AwsError:
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError):
        return AwsError(
            "no AWS credentials were found",
            hint="run `aws configure`, set AWS_PROFILE or pass --profile; without an AWS account, "
            "try `mailflow demo` or `mailflow local start` and --local",
        )
    if isinstance(exc, ProfileNotFound):
        return AwsError(f"{exc}", hint="list your profiles with `aws configure list-profiles`")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"cannot reach the AWS endpoint {getattr(exc, 'kwargs', {}).get('endpoint_url', '')}".strip(),
            hint="check your network, AWS_ENDPOINT_URL, or that the local emulator is running "
            "(`mailflow local status`)",
        )
    if isinstance(exc, NoRegionError):
        return AwsError("no AWS region is set", hint="pass --region or set region: in mailflow.yaml")
    return AwsError(f"AWS call failed: {exc}")


# What SQS answers for a queue that does not exist (the query and JSON protocols name it differently).
MISSING_QUEUE_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


def error_code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""
