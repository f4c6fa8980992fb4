"""The deployed stacks and their queues, as the web inbox lists them.

A stack is a function the emulator's runner would run (a Mailflow handler, see
:mod:`mailflow_cli.local.trusted_code`); its ``mailflow_config.json`` (the runtime configuration the deploy
wrote into the zip) gives its environment, apps, bucket and prefixes, and its queues are named as every
stack's are (:class:`~mailflow_cli.naming.StackNames`). Queue contents are read by
:mod:`mailflow_cli.local.ui.queue_contents`, without receiving anything.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mailflow_cli.local.lambda_runner import LambdaRunner
from mailflow_cli.local.trusted_code import FunctionRefused
from mailflow_cli.naming import StackNames
from mailflow_cli.operate.stack import EVENTS_QUEUE_ALIAS, QueueKind

log = logging.getLogger("mailflow.local.ui")

HANDLER_NAME = re.compile(r"mailflow-[a-z0-9]{1,16}-handler")
RUNTIME_CONFIG = "mailflow_config.json"


@dataclass(frozen=True)
class StackQueue:
    name: str
    kind: QueueKind
    app: str | None = None

    @property
    def is_dlq(self) -> bool:
        return self.kind.endswith("-dlq")

    @property
    def label(self) -> str:
        """What ``mailflow tail``/``dlq`` call this queue: the app, default, outbound, dlq:<which>."""
        if self.kind == "app":
            return self.app or self.name
        if self.kind == "events":
            return EVENTS_QUEUE_ALIAS
        return f"dlq:{self.kind.removesuffix('-dlq')}" if self.is_dlq else self.kind


@dataclass(frozen=True)
class Stack:
    environment: str
    function: str
    account_id: str
    region: str
    domains: tuple[str, ...]
    apps: tuple[str, ...]
    bucket: str
    prefixes: dict[str, str] = field(hash=False)
    queues: tuple[StackQueue, ...]

    @classmethod
    def from_runtime_config(cls, function: str, document: dict[str, Any]) -> Stack:
        apps = document["apps"]
        names = StackNames(str(document["environment"]), str(document["region"]), str(document["accountId"]))
        with_events = bool((document.get("queues") or {}).get("sesEvents"))
        queues = [StackQueue(str(spec["queue"]), "app", str(app)) for app, spec in sorted(apps.items())]
        queues += [StackQueue(names.default_queue, "default"), StackQueue(names.outbound_queue, "outbound")]
        queues += [StackQueue(names.events_queue, "events")] if with_events else []
        queues += [
            StackQueue(names.apps_dlq, "apps-dlq"),
            StackQueue(names.outbound_dlq, "outbound-dlq"),
            StackQueue(names.inbound_dlq, "inbound-dlq"),
        ]
        queues += [StackQueue(names.events_dlq, "events-dlq")] if with_events else []
        return cls(
            environment=str(document["environment"]),
            function=function,
            account_id=str(document["accountId"]),
            region=str(document["region"]),
            domains=tuple(str(domain) for domain in document["domains"]),
            apps=tuple(sorted(str(app) for app in apps)),
            bucket=str(document["bucket"]),
            prefixes={str(k): str(v) for k, v in document["prefixes"].items()},
            queues=tuple(queues),
        )

    def queue(self, name: str) -> StackQueue | None:
        return next((queue for queue in self.queues if queue.name == name), None)

    def owns_key(self, bucket: str, key: str, *prefix_names: str) -> bool:
        """Whether ``bucket``/``key`` lies under one of this stack's prefixes (by their runtime-config names):
        a message only names objects; the UI reads nothing else."""
        prefixes = tuple(self.prefixes[name] for name in prefix_names if self.prefixes.get(name))
        return bucket == self.bucket and bool(prefixes) and key.startswith(prefixes) and ".." not in key


class StackFinder:
    """Lists the deployed stacks; a code version's runtime configuration is read once (by CodeSha256)."""

    def __init__(self, lambda_client: Any, runner: LambdaRunner) -> None:
        self._lambda = lambda_client
        self._runner = runner
        self._configs: dict[str, Stack] = {}

    def stacks(self) -> list[Stack]:
        found = [stack for stack in map(self._stack, self._handler_names()) if stack is not None]
        return sorted(found, key=lambda stack: stack.environment)

    def _handler_names(self) -> Iterator[str]:
        for page in self._lambda.get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                name = str(function.get("FunctionName", ""))
                if HANDLER_NAME.fullmatch(name):
                    yield name

    def _stack(self, name: str) -> Stack | None:
        from botocore.exceptions import ClientError

        try:
            spec = self._runner.trusted_function(name)
            if spec.code_sha256 not in self._configs:
                document = json.loads((self._runner.code_dir(spec) / RUNTIME_CONFIG).read_text("utf-8"))
                self._configs[spec.code_sha256] = Stack.from_runtime_config(name, document)
        except FunctionRefused as exc:
            log.info("the web inbox leaves out %s: %s", name, exc)
            return None
        except ClientError as exc:  # deleted since it was listed
            log.info("the web inbox leaves out %s: %s", name, exc)
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("the web inbox cannot read the runtime configuration of %s: %s", name, exc)
            return None
        return self._configs[spec.code_sha256]
