"""Execute: apply a plan in dependency order, running independent changes concurrently.

Creates and updates wait for the resources they depend on; deletes wait for the deletes of the
resources that depend on them. Each change starts as soon as the last change it waits for is done
(there are no waves). The first failure stops new work; changes already running finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.aws import MAX_POOL_CONNECTIONS, translate_client_error
from mailflow_cli.deploy.handlers.registry import HandlerRegistry
from mailflow_cli.deploy.model import Action, Change, Plan
from mailflow_cli.deploy.progress import ProgressCallback, ProgressEvent, Status, StepReporter
from mailflow_cli.deploy.retry import WaitFailed
from mailflow_cli.errors import AwsError

EXECUTE_WORKERS = MAX_POOL_CONNECTIONS
"""As many changes at once as a client has connections (most changes of a big stack are SQS and
CloudWatch calls, one client each)."""


def prerequisites(changes: tuple[Change, ...]) -> dict[str, set[str]]:
    by_key = {change.key: change for change in changes}
    waits: dict[str, set[str]] = {change.key: set() for change in changes}
    for change in changes:
        for dependency in change.depends_on:
            other = by_key.get(dependency)
            if other is None:
                continue
            if other.action is not Action.DELETE:
                # builds after what it needs; a leftover is deleted after what replaces it
                waits[change.key].add(dependency)
            elif change.action is Action.DELETE:
                waits[dependency].add(change.key)
    return waits


def _apply_one(
    registry: HandlerRegistry, change: Change, progress: ProgressCallback
) -> Mapping[str, Any] | None:
    resource = change.resource
    assert resource is not None
    handler = registry.for_resource(resource)
    step = StepReporter(change.key, change.action.value, progress)
    progress(ProgressEvent(change.key, change.action.value, Status.STARTED))
    learned: Mapping[str, Any] | None = None
    try:
        if change.action is Action.CREATE:
            learned = handler.create(resource, step)
        elif change.action is Action.UPDATE:
            assert change.observed is not None
            handler.update(
                resource, change.observed, frozenset(diff.attribute for diff in change.diffs), step
            )
        elif change.action is Action.DELETE:
            assert change.observed is not None
            handler.delete(resource, change.observed, step)
    except Exception as exc:
        progress(ProgressEvent(change.key, change.action.value, Status.FAILED, str(exc)))
        if isinstance(exc, ClientError):
            raise translate_client_error(exc, f"{change.kind} {change.name}") from exc
        if isinstance(exc, WaitFailed):
            raise AwsError(f"{change.kind} {change.name}: {exc.call}: {exc.reason}", hint=exc.hint) from exc
        raise
    progress(ProgressEvent(change.key, change.action.value, Status.DONE))
    return learned


def apply_plan(
    registry: HandlerRegistry,
    plan: Plan,
    progress: ProgressCallback,
    learned: dict[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Apply every pending change; return the keys applied, in completion order. Handles that creates
    return (a new queue's URL, a new function's ARN) go into ``learned``, by key."""
    pending = plan.pending
    waits = prerequisites(pending)
    by_key = {change.key: change for change in pending}
    dependents: dict[str, list[str]] = {key: [] for key in waits}
    for key, needs in waits.items():
        for need in needs:
            dependents[need].append(key)
    ready = [key for key, needs in waits.items() if not needs]
    done: list[str] = []
    running: dict[Future[Mapping[str, Any] | None], str] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=EXECUTE_WORKERS, thread_name_prefix="mailflow-apply") as pool:
        while True:
            if failure is None:
                for key in ready:
                    del waits[key]
                    running[pool.submit(_apply_one, registry, by_key[key], progress)] = key
                ready = []
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                error = future.exception()
                if error is not None:
                    failure = failure or error
                    continue
                done.append(key)
                handles = future.result()
                if handles and learned is not None:
                    learned[key] = handles
                for dependent in dependents[key]:
                    needs = waits[dependent]
                    needs.discard(key)
                    if not needs:
                        ready.append(dependent)
    if failure is not None:
        raise failure
    if waits:
        raise RuntimeError(f"dependency cycle in the plan: {sorted(waits)}")
    return done
