"""The Lambda-like process the runner starts: imports the function's handler from its unpacked zip and
serves invocations, one JSON line in on stdin, one JSON line out on the protocol pipe.

The handler's own output (print and logging, to stdout or stderr) goes to stderr, which the parent
collects as the invocation's log; after each invocation a marker line closes that invocation's log.
Run as ``python -m mailflow_cli.local.runner_entry`` with the zip's directory as the working directory
and ``PYTHONPATH``, and ``_HANDLER`` naming ``module.function``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

LOG_END_MARKER = "\x1emailflow-local-invocation-end "


class LambdaContext:
    """The attributes and method of the context object AWS passes to a Python handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name: str = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn: str = str(request.get("functionArn", ""))
        self.memory_limit_in_mb: str = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id: str = str(request.get("requestId", ""))
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = str(request.get("logStreamName", ""))
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = int(request.get("deadlineMs", 0))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _load_handler(spec: str) -> Callable[[Any, LambdaContext], Any]:
    module_name, _, function_name = spec.rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    if not callable(handler):
        raise TypeError(f"{spec} is not callable")
    return handler  # type: ignore[no-any-return]


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__)[1:],  # without this runtime's own frame
    }


def serve(requests: TextIO, responses: TextIO, log: TextIO) -> None:
    handler: Callable[[Any, LambdaContext], Any] | None = None
    load_error: dict[str, Any] | None = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        traceback.print_exc(file=log)
        load_error = _error(exc, "Runtime.ImportModuleError")
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        response: dict[str, Any]
        if handler is None:
            response = {"ok": False, "error": load_error}
        else:
            try:
                result = handler(request["event"], LambdaContext(request))
                response = {"ok": True, "result": json.loads(json.dumps(result, default=str))}
            except Exception as exc:
                error = _error(exc)
                log.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
                traceback.print_exc(file=log)
                response = {"ok": False, "error": error}
        sys.stdout.flush()
        log.write(f"{LOG_END_MARKER}{request.get('requestId', '')}\n")
        log.flush()
        responses.write(json.dumps(response) + "\n")
        responses.flush()


def main() -> None:
    responses = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1)
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    serve(sys.stdin, responses, sys.stderr)


if __name__ == "__main__":
    main()
