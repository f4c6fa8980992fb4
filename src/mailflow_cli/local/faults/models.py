"""What botocore knows about each AWS service: its operations, protocols, signing name and errors.

Fault rules name services and operations as botocore does (``lambda``, ``CreateFunction``), so botocore's
service models say which names exist, how a request of each service is addressed and how it is answered.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.model import ServiceModel

JSON_PROTOCOLS = frozenset({"json", "rest-json"})


@cache
def _session() -> Any:
    """A session with a model loader of its own. A loader hands every session that shares it the same
    parsed models, and botocore's S3 clients rewrite theirs in place (the bucket leaves the request URIs
    once endpoint rules put it in the host), so a shared one would make path-style requests unreadable."""
    import botocore.loaders
    import botocore.session

    session = botocore.session.Session()
    session.register_component("data_loader", botocore.loaders.Loader())
    return session


@cache
def service_names() -> frozenset[str]:
    return frozenset(_session().get_available_services())


@cache
def service_model(service: str) -> ServiceModel:
    model: ServiceModel = _session().get_service_model(service)
    return model


def operations_matching(service: str, pattern: str) -> tuple[str, ...]:
    """The service's operations that ``pattern`` (an operation name, or a glob such as ``Update*``) names."""
    return tuple(
        name for name in service_model(service).operation_names if fnmatch.fnmatchcase(name, pattern)
    )


def error_status(service: str, code: str) -> int | None:
    """The HTTP status the service's model gives the error ``code`` (by its code or its shape name)."""
    model: Any = service_model(service)  # botocore-stubs type the code as an int
    shape = model.shape_for_error_code(code)
    status = shape.metadata.get("error", {}).get("httpStatusCode") if shape is not None else None
    return int(status) if status is not None else None
