"""Serves the web inbox on ``127.0.0.1:<port>`` in a thread, behind the emulator's Host and Origin checks."""

from __future__ import annotations

import html
import threading
from typing import Any

from mailflow_cli.local.guard import Environ, Guarded, LoopbackOrigin, Refusal
from mailflow_cli.local.ports import HOST
from mailflow_cli.local.ui.app import UiApp, UiSources


def html_refusal(environ: Environ, refusal: Refusal) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        "<!doctype html><meta charset=utf-8><title>Refused</title>"
        f"<p>Mailflow's web inbox refused this request: {html.escape(refusal.message)}.</p>"
    ).encode()
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]
    return 403, headers, body


def guarded_ui(port: int, sources: UiSources) -> Guarded:
    return Guarded(UiApp(sources), LoopbackOrigin(port).checks(), html_refusal)


class UiServer:
    """One thread per request; a request in progress does not hold up the emulator's stop."""

    def __init__(self, port: int, sources: UiSources) -> None:
        self.port = port
        self.sources = sources
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from werkzeug.serving import make_server

        self._server = make_server(HOST, self.port, guarded_ui(self.port, self.sources), threaded=True)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="web-inbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
