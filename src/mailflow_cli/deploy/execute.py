"""Execute: apply a plan in dependency order, running independent changes concurrently.

Creates and updates wait for the resources they depend on; deletes wait for the deletes of the
resources that depend on them. The first failure stops new work; changes already running finish.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from botocore.exceptions import ClientError

from mailflow_cli.aws import translate_client_error
from mailflow_cli.deploy.handlers.registry import HandlerRegistry
from mailflow_cli.deploy.model import Action, Change, Plan
from mailflow_cli.deploy.progress import ProgressCallback, ProgressEvent, Status, StepReporter

EXECUTE_WORKERS = 8


def prerequisites(changes: tuple[Change, ...]) -> dict[str, set[str]]:
    by_key = {change.key: change for change in changes}
    waits: dict[str, set[str]] = {change.key: set() for change in changes}
    for change in changes:
        for dependency in change.depends_on:
            other = by_key.get(dependency)
            if other is None:
                continue
            if change.action is not Action.DELETE and other.action is not Action.DELETE:
                waits[change.key].add(dependency)
            elif change.action is Action.DELETE and other.action is Action.DELETE:
                waits[dependency].add(change.key)
    return waits


def _apply_one(registry: HandlerRegistry, change: Change, progress: ProgressCallback) -> None:
    resource = change.resource
    assert resource is not None
    handler = registry.for_resource(resource)
    step = StepReporter(change.key, change.action.value, progress)
    progress(ProgressEvent(change.key, change.action.value, Status.STARTED))
    try:
        if change.action is Action.CREATE:
            handler.create(resource, step)
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
        raise
    progress(ProgressEvent(change.key, change.action.value, Status.DONE))


def apply_plan(registry: HandlerRegistry, plan: Plan, progress: ProgressCallback) -> list[str]:
    """Apply every pending change; return the keys applied, in completion order."""
    pending = plan.pending
    waits = prerequisites(pending)
    by_key = {change.key: change for change in pending}
    done: list[str] = []
    running: dict[Future[None], str] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=EXECUTE_WORKERS, thread_name_prefix="mailflow-apply") as pool:
        while True:
            if failure is None:
                ready = [key for key, needs in waits.items() if not needs]
                for key in ready:
                    del waits[key]
                    running[pool.submit(_apply_one, registry, by_key[key], progress)] = key
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
                for needs in waits.values():
                    needs.discard(key)
    if failure is not None:
        raise failure
    if waits:
        raise RuntimeError(f"dependency cycle in the plan: {sorted(waits)}")
    return done
