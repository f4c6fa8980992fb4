"""A local moto server for the deploy benchmarks, and botocore hooks that count (and slow) API calls."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import EXAMPLE_CONFIG

REGION = "eu-west-1"
READ_PREFIXES = ("Get", "List", "Describe", "Head")


@contextmanager
def moto_server() -> Iterator[str]:
    """Start ``ThreadedMotoServer`` on 127.0.0.1 (a free port) and point ``AWS_ENDPOINT_URL`` at it.

    The server runs with the same moto compatibility patches as the tests and the emulator
    (``mailflow_cli.local.moto_patches``): without them moto drops a function's DeadLetterConfig and
    every re-deploy would see one change that AWS would not.
    """
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    from moto.server import ThreadedMotoServer

    from mailflow_cli.local.moto_patches import install_moto_compat

    undo = install_moto_compat()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        server.stop()
        undo()


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class CallCounter:
    """A ``before-call.*.*`` hook: counts calls by ``service.Operation``; thread-safe."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def mutating(self) -> dict[str, int]:
        return {name: n for name, n in self.calls.items() if is_mutating(name.split(".", 1)[1])}


class Latency:
    """A ``before-send.*.*`` hook: every HTTP attempt (retries included) sleeps ``seconds`` first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sends = 0
        self._lock = threading.Lock()

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self.sends += 1
        time.sleep(self.seconds)


def open_context(config: Path, hooks: list[tuple[str, Any]]) -> Any:
    """A fresh StackContext (fresh clients, as a new CLI run would have) with the hooks registered."""
    from mailflow_cli.context import open_stack

    ctx = open_stack(config)
    ctx.clients.event_hooks.extend(hooks)
    return ctx


def config_with_apps(apps: int, directory: Path) -> Path:
    """mailflow.yaml.example with its apps replaced by ``apps`` plain apps (app0001 ...)."""
    text = EXAMPLE_CONFIG.read_text()
    block = "apps:\n" + "".join(f"  - app{i:04d}\n" for i in range(1, apps + 1))
    replaced = re.sub(r"^apps:\n(?:(?:  .*|\s*#.*)?\n)*", block + "\n", text, count=1, flags=re.MULTILINE)
    path = directory / f"mailflow-{apps}-apps.yaml"
    path.write_text(replaced)
    return path


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="mailflow-bench-")
