"""The emulator's AWS endpoint: moto's WSGI application behind the guard, served on 127.0.0.1:<port>.

moto's own server (``ThreadedMotoServer``) answers every origin with permissive CORS headers and serves
its control API (``/moto-api/``: reset, the whole state as JSON, a request recorder that replays
uploaded requests) to anyone. Here moto's application is served by werkzeug behind
:class:`~mailflow_cli.local.guard.Guarded`: only AWS API requests signed with the emulator's access key,
addressed to ``127.0.0.1:<port>``/``localhost:<port>`` and not sent by a web page of another origin reach
moto. A refused request gets 403 in the error format of the request's AWS protocol (query and REST XML,
JSON, RPC v2 CBOR), so an SDK reports an error code rather than a parse failure.

Two keys are accepted: the emulator's own (``state.json``: the CLI, the emulator's clients) and the
functions' (only in the Lambda workers' environment). Behind the guard, the control endpoint for faults
(``/_mailflow/faults``, :mod:`mailflow_cli.local.faults.endpoint`) takes only the emulator's own key,
and every AWS call passes the fault layer, whose rules hit only calls signed with the functions' key.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from mailflow_cli.local.guard import (
    FOREIGN_HOST,
    MISSING_ACCESS_KEY,
    WRONG_ACCESS_KEY,
    Environ,
    Guarded,
    LoopbackOrigin,
    Refusal,
    aws_access_key_check,
    refuse_paths,
)
from mailflow_cli.local.ports import HOST

if TYPE_CHECKING:
    from mailflow_cli.local.faults.control import FaultControl

MOTO_CONTROL_PATHS = ("/moto-api", "/favicon.ico", "/latest/")
"""moto's own API and its EC2 instance metadata service: nothing an AWS SDK talks to at this endpoint."""

_XML_CODES = {MISSING_ACCESS_KEY: "MissingAuthenticationToken", WRONG_ACCESS_KEY: "InvalidClientTokenId"}
_JSON_CODES = {
    MISSING_ACCESS_KEY: "MissingAuthenticationTokenException",
    WRONG_ACCESS_KEY: "UnrecognizedClientException",
}
_REST_JSON_SIGNING_NAMES = frozenset({"lambda"})


def disable_moto_cors() -> None:
    """moto reads this when ``moto.settings`` is first imported: call it before anything imports moto."""
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "1"


def _moto_application() -> Any:
    from moto.moto_server import werkzeug_app

    if not vars(werkzeug_app)["DISABLE_GLOBAL_CORS"]:
        raise RuntimeError("moto was imported before MOTO_DISABLE_GLOBAL_CORS was set: its CORS is on")
    return werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)


def _signing_name(environ: Environ) -> str:
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
    return scope[3].lower() if len(scope) >= 5 else ""


def _cbor_text(value: str) -> bytes:
    data = value.encode("utf-8")
    size = len(data)
    if size < 24:
        head = bytes([0x60 | size])
    elif size < 0x100:
        head = bytes([0x78, size])
    elif size < 0x10000:
        head = b"\x79" + size.to_bytes(2, "big")
    else:
        head = b"\x7a" + size.to_bytes(4, "big")
    return head + data


def error_format(environ: Environ) -> str:
    """``cbor``, ``json`` or ``xml``: how an SDK expects this request's errors."""
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    if str(environ.get("HTTP_SMITHY_PROTOCOL", "")).lower() == "rpc-v2-cbor":
        return "cbor"
    if "HTTP_X_AMZ_TARGET" in environ or "json" in content_type:
        return "json"
    path = str(environ.get("PATH_INFO", ""))
    if _signing_name(environ) in _REST_JSON_SIGNING_NAMES or path.startswith("/v2/email/"):
        return "json"
    return "xml"


def aws_refusal(environ: Environ, refusal: Refusal) -> tuple[int, list[tuple[str, str]], bytes]:
    """403 with the refusal as an AWS error: a code the SDK raises and the refusal's message."""
    request_id = str(uuid.uuid4())
    message = f"mailflow local emulator: {refusal.message}"
    if refusal.kind in (MISSING_ACCESS_KEY, WRONG_ACCESS_KEY):
        message += " (use the credentials `mailflow local start` printed, or run the command with --local)"
    elif refusal.kind == FOREIGN_HOST:
        message += " (DNS rebinding protection)"
    shape = error_format(environ)
    code = (_JSON_CODES if shape != "xml" else _XML_CODES).get(refusal.kind, "AccessDenied")
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
    if shape == "cbor":
        body = b"\xa2" + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        headers += [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")]
    elif shape == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.1"))
    else:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    return 403, headers, body


def guarded_moto(
    port: int, access_key: str, *, functions_key: str | None = None, faults: FaultControl | None = None
) -> Guarded:
    """moto's application behind the checks, in order: Host, Origin, moto's own paths, the access key
    (``access_key``, or ``functions_key``); with ``faults``, behind the fault layer and its control."""
    origin = LoopbackOrigin(port)
    keys = (access_key, functions_key) if functions_key else (access_key,)
    checks = (
        *origin.checks(),
        refuse_paths(MOTO_CONTROL_PATHS, "moto's control API"),
        aws_access_key_check(*keys),
    )
    app = _moto_application()
    if faults is not None:
        from mailflow_cli.local.faults import FaultLayer
        from mailflow_cli.local.faults.endpoint import ControlRouter

        app = ControlRouter(FaultLayer(app, faults.engine, faults.lambda_faults), faults, access_key)
    return Guarded(app, checks, aws_refusal)


class AwsEndpoint:
    """Serves :func:`guarded_moto` on ``127.0.0.1:<port>`` in a thread (one thread per request)."""

    def __init__(
        self,
        port: int,
        access_key: str,
        *,
        functions_key: str | None = None,
        faults: FaultControl | None = None,
    ) -> None:
        self.port = port
        self.access_key = access_key
        self.functions_key = functions_key
        self.faults = faults
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            HOST,
            self.port,
            guarded_moto(self.port, self.access_key, functions_key=self.functions_key, faults=self.faults),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-endpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
