"""A stand-in for the ``mailflow`` command in the live suite's unit tests (no AWS).

It answers each command as the real one does when all goes well (the JSON that ``--json`` prints) and
records every call. :class:`FakeCli` runs in-process, with per-call behaviours that fail, time out or
signal; run as a script (``python live_suite_fake_cli.py ARGS...``) it is the executable for the
subprocess tests: it appends each call to ``$FAKE_MAILFLOW_LOG`` and sleeps for an hour when its command
is ``$FAKE_MAILFLOW_HANG``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aws.runner import CliResult

Behaviour = Callable[[Sequence[str]], CliResult]
SIGNAL_GRACE_SECONDS = 5.0


def respond(args: Sequence[str], earlier: Sequence[Sequence[str]]) -> tuple[int, str]:
    """The exit code and stdout of a successful ``mailflow ARGS`` after the ``earlier`` calls."""
    config = Path(args[args.index("-c") + 1])
    environment = yaml.safe_load(config.read_text(encoding="utf-8"))["environment"]
    prefix = f"mailflow-{environment}"
    command = args[0]
    if command == "deploy":
        return 0, _dumps(
            {"environment": environment, "appQueueUrls": {"live": f"https://sqs/{prefix}-app-live"}}
        )
    if command == "plan":
        destroyed = any(call[0] == "destroy" for call in earlier)
        action = "create" if destroyed else "no-change"
        changes = [
            {"kind": "sqs-queue", "name": f"{prefix}-app-live", "action": action, "changes": []},
            {"kind": "ses-rule-set", "name": "mailflow-receipt-rules", "action": "no-change", "changes": []},
        ]
        return 0, _dumps({"changes": changes, "conflicts": [], "blocked": [], "kept": []})
    if command == "verify-domain":
        return 0, "Verification: Success   DKIM: Success\n"
    if command == "send-test":
        correlation_id = f"mailflow-test-{len(earlier)}"
        status = {
            "type": "outbound.status",
            "correlationId": correlation_id,
            "status": "sent",
            "sesMessageId": f"ses-{len(earlier)}",
        }
        return 0, _dumps({"correlationId": correlation_id, "delivered": True, "message": status})
    if command == "status":
        return 0, _dumps({"healthy": True, "problems": []})
    if command == "logs":
        pattern = args[args.index("--filter") + 1]
        correlation_id = re.findall(r'"([^"]+)"', pattern)[0]
        message = json.dumps({"message": "outbound email", "correlationId": correlation_id})
        return 0, json.dumps({"timestamp": 1, "message": message}) + "\n"
    if command == "destroy":
        return 0, ""
    raise AssertionError(f"the live suite ran an unexpected command: {args}")


class FakeCli:
    """The :class:`aws.runner.Cli` of the unit tests: ``at_call`` replaces the N-th call (from 0),
    ``at_command`` every call of a command (``destroy``)."""

    def __init__(
        self,
        *,
        at_call: Mapping[int, Behaviour] | None = None,
        at_command: Mapping[str, Behaviour] | None = None,
    ) -> None:
        self.at_call = dict(at_call or {})
        self.at_command = dict(at_command or {})
        self.calls: list[list[str]] = []

    def run(self, args: Sequence[str], *, timeout: float) -> CliResult:
        earlier = list(self.calls)
        self.calls.append(list(args))
        behaviour = self.at_call.get(len(earlier)) or self.at_command.get(args[0])
        if behaviour is not None:
            return behaviour(args)
        code, stdout = respond(args, earlier)
        return CliResult(tuple(args), code, stdout)

    def command_line(self, args: Sequence[str]) -> str:
        return shlex.join(["mailflow", *args])

    def commands(self) -> list[str]:
        return [call[0] for call in self.calls]


def exits(code: int, stdout: str = "") -> Behaviour:
    return lambda args: CliResult(tuple(args), code, stdout)


def times_out(args: Sequence[str]) -> CliResult:
    return CliResult(tuple(args), None, "")


def receives(signum: signal.Signals) -> Behaviour:
    """The process gets ``signum`` while the command runs (as from Ctrl-C or ``kill``)."""

    def behaviour(args: Sequence[str]) -> CliResult:
        raise_and_wait(signum)
        raise AssertionError(f"{signum.name} did not interrupt the step")

    return behaviour


def raise_and_wait(signum: signal.Signals) -> None:
    """Send ``signum`` to this process and wait a little: a handler that raises ends the wait at once."""
    signal.raise_signal(signum)
    time.sleep(SIGNAL_GRACE_SECONDS)


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(args: Sequence[str]) -> int:
    log = Path(os.environ["FAKE_MAILFLOW_LOG"])
    earlier = (
        [entry["args"] for entry in map(json.loads, log.read_text().splitlines())] if log.exists() else []
    )
    with log.open("a") as stream:
        stream.write(json.dumps({"args": list(args), "pid": os.getpid()}) + "\n")
    if args[0] == os.environ.get("FAKE_MAILFLOW_HANG"):
        time.sleep(3600)
    code, stdout = respond(args, earlier)
    sys.stdout.write(stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
