"""Who may talk to a server the emulator runs on 127.0.0.1: the checks, and a WSGI layer that applies them.

Listening on loopback keeps other machines out, not web pages: a browser on this machine sends a page's
requests to 127.0.0.1 too (cross-site requests, and DNS rebinding: ``attacker.example`` resolving to
127.0.0.1). So every request must

- name this server in ``Host`` (``127.0.0.1:<port>`` or ``localhost:<port>``): a rebound name is refused;
- carry no ``Origin`` but the server's own, and no ``Sec-Fetch-Site`` but ``same-origin`` or ``none``:
  a browser adds these to every cross-origin request, and SDKs and command-line tools send neither;
- present the access key made at start-up, which only this user can read (a server-specific check,
  e.g. :func:`aws_access_key_check` for the AWS endpoint).

:class:`Guarded` applies a list of checks in order before the wrapped WSGI application sees the request;
a refused request gets the server's own refusal response and never reaches the application.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger("mailflow.local.guard")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})

MISSING_ACCESS_KEY = "MissingAccessKey"
WRONG_ACCESS_KEY = "WrongAccessKey"
FOREIGN_HOST = "ForeignHost"
CROSS_ORIGIN = "CrossOrigin"
NOT_SERVED = "NotServed"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]*)/")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: ``kind`` is one of the constants above; ``message`` is one sentence."""

    kind: str
    message: str


Check = Callable[[Environ], Refusal | None]


@dataclass(frozen=True)
class LoopbackOrigin:
    """The Host and Origin checks for a server listening on ``127.0.0.1:<port>``."""

    port: int
    scheme: str = "http"

    @property
    def hosts(self) -> frozenset[str]:
        names = {f"{name}:{self.port}" for name in LOOPBACK_NAMES}
        if self.port == {"http": 80, "https": 443}.get(self.scheme):
            names.update(LOOPBACK_NAMES)
        return frozenset(names)

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(f"{self.scheme}://{host}" for host in self.hosts)

    def check_host(self, environ: Environ) -> Refusal | None:
        host = str(environ.get("HTTP_HOST", "")).lower()
        if host in self.hosts:
            return None
        return Refusal(FOREIGN_HOST, f"this server answers only to Host {' or '.join(sorted(self.hosts))}")

    def check_origin(self, environ: Environ) -> Refusal | None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and str(origin).lower() not in self.origins:
            return Refusal(CROSS_ORIGIN, "requests from web pages of other origins are refused")
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if site is not None and str(site).lower() not in SAME_ORIGIN_FETCH_SITES:
            return Refusal(CROSS_ORIGIN, "requests from web pages of other sites are refused")
        return None

    def checks(self) -> tuple[Check, Check]:
        return (self.check_host, self.check_origin)


def presented_access_keys(environ: Environ) -> list[str]:
    """The access key ids a request is signed with: the SigV4 ``Authorization`` header, and a presigned URL's
    ``X-Amz-Credential`` (SigV4) or ``AWSAccessKeyId`` (botocore's default for S3 URLs)."""
    keys: list[str] = []
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    if authorization:
        match = _CREDENTIAL.search(authorization) if authorization.startswith("AWS4-") else None
        keys.append(match.group(1) if match else "")
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    keys.extend(credential.partition("/")[0] for credential in query.get("X-Amz-Credential", []))
    keys.extend(query.get("AWSAccessKeyId", []))
    return keys


def aws_access_key_check(*access_keys: str) -> Check:
    """Require at least one credential, and one of ``access_keys`` in every credential the request
    presents (the emulator's own key, and the key of the functions it runs)."""
    accepted = tuple(key.encode() for key in access_keys)

    def known(key: str) -> bool:
        presented = key.encode()
        return any(hmac.compare_digest(presented, expected) for expected in accepted)

    def check(environ: Environ) -> Refusal | None:
        presented = presented_access_keys(environ)
        if not presented:
            return Refusal(MISSING_ACCESS_KEY, "the request is not signed with the emulator's access key")
        if not all(known(key) for key in presented):
            return Refusal(
                WRONG_ACCESS_KEY, "the request is signed with another access key than the emulator's"
            )
        return None

    return check


def refuse_paths(prefixes: Sequence[str], what: str) -> Check:
    """Refuse every request whose path starts with one of ``prefixes``."""

    def check(environ: Environ) -> Refusal | None:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(tuple(prefixes)):
            return Refusal(NOT_SERVED, f"{what} is not served")
        return None

    return check


Respond = Callable[[Environ, Refusal], tuple[int, list[tuple[str, str]], bytes]]
"""Renders a refusal for the client: status, headers, body."""


class Guarded:
    """WSGI middleware: the first check that refuses answers the request; otherwise ``app`` does."""

    def __init__(self, app: WsgiApp, checks: Sequence[Check], respond: Respond) -> None:
        self.app = app
        self.checks = tuple(checks)
        self.respond = respond

    def refusal(self, environ: Environ) -> Refusal | None:
        for check in self.checks:
            refusal = check(environ)
            if refusal is not None:
                return refusal
        return None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        log.warning(
            "refused %s %s: %s",
            environ.get("REQUEST_METHOD", "?"),
            str(environ.get("PATH_INFO", ""))[:200].encode("unicode_escape").decode("ascii"),
            refusal.message,
        )
        status, headers, body = self.respond(environ, refusal)
        start_response(
            f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))]
        )
        return [body]
