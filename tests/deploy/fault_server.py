"""A moto server on 127.0.0.1 with the fault layer in front, and a clock that moves only when the code
under test sleeps (so AWS's "for 60 s" passes in no time, and every sleep is counted, by who slept)."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from types import TracebackType
from typing import Any

from mailflow_cli.local.faults import FaultEngine, FaultLayer

RETRY = "retry"
"""The deploy engine's own retries (tenacity, through RetryPolicy.sleep)."""
BOTOCORE = "botocore"
"""botocore's standard retry mode (throttling, 5xx): botocore.endpoint sleeps."""
WAITER = "waiter"
"""botocore's waiters (function_active_v2, ...): botocore.waiter sleeps."""


class VirtualClock:
    """Now is the sum of every sleep so far; each sleep is recorded under the name of who slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleeper(self, who: str) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            with self._lock:
                self.sleeps[who].append(seconds)
                self.now += seconds

        return sleep


class SleepingTime:
    """Stands in for the ``time`` module inside one botocore module: its ``sleep`` is the clock's."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _reset_moto() -> None:
    """Every moto backend emptied (what moto's own /moto-api/reset does)."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    BackendDict.reset()
    reset_model_data()


class FaultServer:
    """moto's WSGI application behind :class:`FaultLayer`, served by werkzeug in a thread."""

    def __init__(self, engine: FaultEngine) -> None:
        self.engine = engine
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FaultServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _reset_moto()
        application = FaultLayer(DomainDispatcherApplication(create_backend_app), self.engine)
        self._server = make_server(
            "127.0.0.1", 0, application, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-server", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(5)
        _reset_moto()
