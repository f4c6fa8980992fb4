"""boto3 clients and queue URLs, created lazily once per container.

`reset()` forgets everything (clients, queue URLs, configuration, the address hash key); tests call it
between cases.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from . import addresses
from . import config as config_module
from .config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_queue_urls: dict[str, str] = {}
_deps: Deps | None = None
_session: Any = None


def _client_options(service: str) -> dict[str, Any]:
    """Standard retries everywhere except SES: SendEmail has no idempotency token, so a retry after a
    read timeout (the request may have been accepted) could send the email twice. One attempt, and a
    longer read timeout so a slow but successful send is not cut off."""
    if service == "sesv2":
        return {
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 60,
        }
    return {"retries": {"mode": "standard", "max_attempts": 3}, "connect_timeout": 5, "read_timeout": 20}


def client(service: str) -> Any:
    """A cached boto3 client for `service` in the configured region."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(service)
        if found is None:
            import boto3
            from botocore.config import Config as BotoConfig

            global _session  # noqa: PLW0603
            if _session is None:
                _session = boto3.session.Session()
            region = config_module.get_config().region
            found = _session.client(
                service, region_name=region, config=BotoConfig(**_client_options(service))
            )
            _clients[service] = found
    return found


def reset() -> None:
    """Drop cached clients, queue URLs, deps, configuration and the address hash key (for tests)."""
    global _deps  # noqa: PLW0603
    _deps = None
    with _lock:
        _clients.clear()
        _queue_urls.clear()
    config_module.reset()
    addresses.reset()


@dataclass(eq=False, repr=False)  # fewer generated methods: cheaper cold start
class Deps:
    """What the pipelines need from the outside world; inject fakes for tests and benchmarks."""

    config: Config
    s3: Any
    sqs: Any
    ses: Any
    dynamodb: Any | None
    queue_urls: dict[str, str] = field(default_factory=dict)

    def queue_url(self, name: str) -> str:
        url = self.queue_urls.get(name)
        if url is None:
            url = str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])
            self.queue_urls[name] = url
        return url


class _LazyClient:
    """Defers client creation until first attribute access, so unused services cost nothing."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, item: str) -> Any:
        return getattr(client(self._service), item)


def default_deps() -> Deps:
    """Deps backed by the container's cached clients; the queue URL cache is shared module state."""
    global _deps  # noqa: PLW0603
    if _deps is None:
        _deps = Deps(
            config=config_module.get_config(),
            s3=_LazyClient("s3"),
            sqs=_LazyClient("sqs"),
            ses=_LazyClient("sesv2"),
            dynamodb=_LazyClient("dynamodb"),
            queue_urls=_queue_urls,
        )
    return _deps
