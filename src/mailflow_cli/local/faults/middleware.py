"""The fault layer: WSGI middleware in front of an AWS endpoint (moto) that answers the calls a
:class:`~mailflow_cli.local.faults.engine.FaultEngine` picks, and passes every other request through.

An error is answered here, in the request's protocol, and never reaches the endpoint (so nothing changes
there, as with AWS). A state effect lets the call through and replaces fields of a successful JSON answer.
Requests of services no rule mentions go through without their body being read, unless an observer
(:class:`CallObserver`, the Lambda faults) wants to hear how they end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Protocol

from mailflow_cli.local.faults.calls import Call, identify
from mailflow_cli.local.faults.engine import FaultEngine
from mailflow_cli.local.faults.responses import error_response, replace_fields
from mailflow_cli.local.faults.rules import Error, State
from mailflow_cli.local.guard import Environ, StartResponse, WsgiApp

log = logging.getLogger("mailflow.local.faults")


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


class CallObserver(Protocol):
    """Hears how the calls it wants ended (the status the endpoint answered); injected errors excluded."""

    services: frozenset[str]

    def wants(self, environ: Environ) -> bool: ...

    def completed(self, environ: Environ, call: Call, status: int) -> None: ...


class FaultLayer:
    def __init__(self, app: WsgiApp, engine: FaultEngine, observer: CallObserver | None = None) -> None:
        self.app = app
        self.engine = engine
        self.observer = observer

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        services = self.engine.services
        observer = self.observer
        if observer is not None and observer.wants(environ):
            services = services | observer.services
        call = identify(environ, services) if services else None
        if call is None:
            return self.app(environ, start_response)
        effect = self.engine.decide(call)
        if isinstance(effect, Error):
            log.info("fault: %s %s answered %s", call.service, call.operation, effect.code)
            status, headers, body = error_response(
                call.service, call.protocol, effect.code, effect.status, effect.message
            )
            start_response(_status_line(status), [*headers, ("Content-Length", str(len(body)))])
            return [body]
        if isinstance(effect, State):
            return self._with_state(call, effect, environ, start_response)
        return self.app(environ, self._completing(call, environ, start_response))

    def _completed(self, call: Call, environ: Environ, status: int) -> None:
        self.engine.completed(call, status)
        if self.observer is not None and self.observer.wants(environ):
            self.observer.completed(environ, call, status)

    def _completing(self, call: Call, environ: Environ, start_response: StartResponse) -> StartResponse:
        """``start_response`` that tells the engine (a success opens windows) and the observer how the call
        ended, once the endpoint has acted on it and before the caller reads the answer."""

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self._completed(call, environ, int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return respond

    def _with_state(
        self, call: Call, effect: State, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        answered: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append((status, headers))
            return lambda _data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = answered[0]
        code = int(status.split(" ", 1)[0])
        self._completed(call, environ, code)
        if 200 <= code < 300:
            log.info("fault: %s %s answered with %s", call.service, call.operation, effect.to_text())
            body = replace_fields(body, effect.fields)
        kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
        start_response(status, [*kept, ("Content-Length", str(len(body)))])
        return [body]
