"""The control endpoint for the emulator's faults, on its AWS port: ``/_mailflow/faults``.

``GET`` answers the status (:class:`~mailflow_cli.local.faults.control.FaultStatus` as JSON), ``PUT``
with ``{"rules": [...], "seed": N}`` replaces the rules, ``DELETE`` removes them. The endpoint sits
behind the AWS endpoint's guard (loopback Host, no web page, a key) and takes only the emulator's own
access key, the one in ``state.json``: the functions the emulator runs have a key of their own, which
the AWS APIs accept and this endpoint refuses. No S3 bucket name starts with ``_``, so the path never
shadows a path-style S3 request. Bodies over :data:`MAX_BODY` bytes are refused.

:class:`FaultsClient` is the other side, used by ``mailflow local faults``: the request is signed with
SigV4 like any AWS call, with the emulator's key.
"""

from __future__ import annotations

import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from mailflow_cli.errors import MailflowError
from mailflow_cli.local.faults.control import FaultControl, FaultStatus
from mailflow_cli.local.faults.rules import FaultRuleError
from mailflow_cli.local.guard import Environ, StartResponse, WsgiApp, presented_access_keys
from mailflow_cli.local.state import EmulatorState

CONTROL_PREFIX = "/_mailflow/"
FAULTS_PATH = "/_mailflow/faults"
MAX_BODY = 64 * 1024
SIGNING_NAME = "mailflow"


def _answer(start_response: StartResponse, status: int, document: Any) -> list[bytes]:
    body = json.dumps(document).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _problem(message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": message, "hint": hint}


class ControlRouter:
    """Requests under ``/_mailflow/`` go to the fault control; all others to the AWS application."""

    def __init__(self, aws_app: WsgiApp, control: FaultControl, own_key: str) -> None:
        self.aws_app = aws_app
        self.control = control
        self._own_key = own_key.encode()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if not path.startswith(CONTROL_PREFIX):
            return self.aws_app(environ, start_response)
        keys = presented_access_keys(environ)
        if not keys or not all(hmac.compare_digest(key.encode(), self._own_key) for key in keys):
            return _answer(
                start_response,
                403,
                _problem("the control endpoint takes only the emulator's own access key (state.json)"),
            )
        if path != FAULTS_PATH:
            return _answer(start_response, 404, _problem(f"no control endpoint at {path[:100]!r}"))
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            if method == "GET":
                status = self.control.status()
            elif method == "DELETE":
                status = self.control.clear()
            elif method == "PUT":
                rules, seed = _rules_and_seed(environ)
                status = self.control.set(rules, seed)
            else:
                return _answer(start_response, 405, _problem(f"{method} is not GET, PUT or DELETE"))
        except FaultRuleError as problem:
            return _answer(start_response, 400, _problem(problem.message, problem.hint))
        return _answer(start_response, 200, status.to_json())


def _rules_and_seed(environ: Environ) -> tuple[list[str], int]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 < length <= MAX_BODY:
        raise FaultRuleError(f"the request body must be JSON of 1 to {MAX_BODY} bytes")
    try:
        document = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        document = None
    rules = document.get("rules") if isinstance(document, dict) else None
    seed = document.get("seed", 0) if isinstance(document, dict) else None
    if (
        not isinstance(rules, list)
        or not all(isinstance(rule, str) for rule in rules)
        or not isinstance(seed, int)
        or isinstance(seed, bool)
    ):
        raise FaultRuleError('the request body must be {"rules": ["<rule>", ...], "seed": <whole number>}')
    return rules, seed


class FaultsClient:
    """Talks to the control endpoint of the running emulator ``state`` describes."""

    def __init__(self, state: EmulatorState, timeout: float = 10.0) -> None:
        self.state = state
        self.timeout = timeout

    def status(self) -> FaultStatus:
        return self._request("GET")

    def set(self, rules: Sequence[str], seed: int = 0) -> FaultStatus:
        return self._request("PUT", {"rules": list(rules), "seed": seed})

    def clear(self) -> FaultStatus:
        return self._request("DELETE")

    def _request(self, method: str, document: Any = None) -> FaultStatus:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        url = self.state.endpoint + FAULTS_PATH
        body = json.dumps(document).encode() if document is not None else b""
        signed = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
        credentials = Credentials(self.state.access_key, self.state.secret_key)
        SigV4Auth(credentials, SIGNING_NAME, self.state.region).add_auth(signed)
        request = urllib.request.Request(
            url, data=body or None, method=method, headers=dict(signed.headers.items())
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return FaultStatus.from_json(json.loads(response.read()))
        except urllib.error.HTTPError as failed:
            raise self._refused(failed) from None
        except (urllib.error.URLError, OSError) as exc:
            raise MailflowError(
                f"the local emulator at {self.state.endpoint} does not answer: {exc}",
                hint="check it with `mailflow local status`",
            ) from None
        except (ValueError, KeyError, TypeError):
            raise self._outdated() from None

    def _refused(self, failed: urllib.error.HTTPError) -> MailflowError:
        """The endpoint's own problem (``error``), or the guard's AWS error (``message``)."""
        try:
            problem = json.loads(failed.read())
        except ValueError:
            problem = None
        message = (problem.get("error") or problem.get("message")) if isinstance(problem, dict) else None
        if failed.code == 404 or not isinstance(message, str):
            return (
                self._outdated()
                if failed.code == 404
                else MailflowError(f"the local emulator refused the request (HTTP {failed.code})")
            )
        if failed.code == 400:
            hint = problem.get("hint") if isinstance(problem, dict) else None
            return FaultRuleError(message, hint=hint if isinstance(hint, str) else None)
        return MailflowError(f"the local emulator refused the request: {message}")

    def _outdated(self) -> MailflowError:
        return MailflowError(
            "the running emulator does not take fault rules (it was started by another version of Mailflow)",
            hint="restart it with this one: mailflow local stop && mailflow local start",
        )
