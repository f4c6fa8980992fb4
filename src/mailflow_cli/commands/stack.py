"""``mailflow plan / deploy / outputs / destroy``: the stack's lifecycle.

The deploy engine (and boto3) are imported inside the commands so that ``mailflow --help`` stays fast.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.errors import UsageError
from mailflow_cli.options import DEFAULT_TARGET, JsonOption, StackTarget, YesOption, stack_options

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from mailflow_cli.deploy import DestroyReport, Plan, ProgressEvent, StackOutputs

ACTION_STYLES = {"create": "green", "update": "yellow", "delete": "red", "no-change": "dim"}
MAX_VALUE_WIDTH = 60


def _short(value: object) -> str:
    from mailflow_cli.deploy.model import canonical

    text = canonical(value)
    return text if len(text) <= MAX_VALUE_WIDTH else text[: MAX_VALUE_WIDTH - 1] + "…"


def _flatten(value: object, path: str, into: dict[str, object]) -> dict[str, object]:
    """Dotted paths to leaf values; list items that have an ``id`` are addressed by it."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{path}.{key}", into)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for position, item in enumerate(value):
            label = item.get("id", item.get("Sid", position))
            _flatten(item, f"{path}[{label}]", into)
    else:
        into[path] = value
    return into


def describe_diff(attribute: str, old: object, new: object) -> list[str]:
    """Only the leaves that differ: ``lifecycle[expire-raw].expirationDays: 7 -> 9``."""
    if old is None:
        return [f"{attribute}: (unset) -> {_short(new)}"]
    before, after = _flatten(old, attribute, {}), _flatten(new, attribute, {})
    return [
        f"{path}: {_short(before.get(path))} -> {_short(after.get(path))}"
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]


def render_plan(plan: Plan, *, show_unchanged: bool = False) -> None:
    from rich.table import Table

    if not plan.pending and not show_unchanged:
        out.print(f"No changes: all {len(plan.changes)} resources match the configuration.")
        _render_conflicts(plan)
        return
    table = Table(title="Plan", show_lines=False, header_style="bold", expand=False)
    table.add_column("action")
    table.add_column("resource")
    table.add_column("name", overflow="fold")
    table.add_column("changes", overflow="fold")
    for change in plan.changes:
        if change.action.value == "no-change" and not show_unchanged:
            continue
        style = ACTION_STYLES[change.action.value]
        details = ""
        if change.action.value == "update":
            details = "\n".join(
                line for d in change.diffs for line in describe_diff(d.attribute, d.old, d.new)
            )
        table.add_row(styled((change.action.value, style)), change.kind, change.name, details)
    out.print(table)
    from mailflow_cli.deploy import Action

    out.print(", ".join(f"{plan.count(action)} {action.value}" for action in Action))
    _render_conflicts(plan)


def _render_conflicts(plan: Plan) -> None:
    for change in plan.administrative:
        err.print(
            styled(
                ("Administrator:", "yellow"),
                f" {change.action.value} {change.kind} {change.name}: only an administrator may make this "
                "change (docs/permissions.md); deploy makes it first, and stops there without those rights",
            )
        )
    for conflict in (*plan.conflicts, *plan.blocked):
        err.print(styled(("Stop:", "bold red"), f" {conflict.kind} {conflict.name}: {conflict.reason}"))
        if conflict.hint:
            err.print(styled("  ", ("Hint:", "dim"), f" {conflict.hint}"))
    for kept in plan.kept:
        err.print(styled(("Kept:", "yellow"), f" {kept.kind} {kept.name}: {kept.reason}"))


def render_outputs(outputs: StackOutputs) -> None:
    """One ``key  value`` line per output, never wrapped, so URLs can be copied."""
    out.print(styled((f"Mailflow stack {outputs.environment}", "bold"), f" ({outputs.region})"))
    rows: list[tuple[str, str]] = []
    for key, value in outputs.to_json().items():
        if isinstance(value, dict):
            rows.extend((f"{key}.{inner}", str(inner_value)) for inner, inner_value in value.items())
        elif key not in {"environment", "region"}:
            rows.append((key, "" if value is None else str(value)))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        out.print(f"  {key:<{width}}  {value}")


class LiveProgress:
    """Renders progress events as a live table on stderr; starts at the first event (after any prompt).

    Where stderr is not a terminal (CI logs), the table appears only at the end, so each wait is also
    printed as a line when it starts: what the step waits for, and for how long at most."""

    STATUS_STYLES: ClassVar[dict[str, str]] = {
        "started": "cyan",
        "waiting": "yellow",
        "done": "green",
        "failed": "red",
        "skipped": "dim",
    }

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.rows: dict[str, tuple[str, str, str]] = {}
        self.lock = threading.Lock()
        self.live: Live | None = None

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.update(self.table(), refresh=True)
            self.live.stop()
            self.console.line()
        elif error is None:
            self.console.print("No changes: the stack already matches the config.")

    def table(self) -> Table:
        from rich.table import Table

        table = Table(title=self.title, header_style="bold")
        table.add_column("resource")
        table.add_column("action")
        table.add_column("status")
        for key, (action, status, detail) in self.rows.items():
            shown = f"{status}: {detail}" if detail and status in {"waiting", "failed"} else status
            style = self.STATUS_STYLES.get(status, "")
            table.add_row(key, action, styled((shown, style)))
        return table

    def __call__(self, event: ProgressEvent) -> None:
        from rich.live import Live

        with self.lock:
            self.rows[event.key] = (event.action, event.status.value, event.detail)
            if event.status.value == "waiting" and not self.console.is_terminal:
                self.console.print(
                    styled(("waiting", "yellow"), f" {event.key}: {event.detail}"), soft_wrap=True
                )
            if self.live is None:
                self.live = Live(self.table(), console=self.console, refresh_per_second=8, transient=False)
                self.live.start()
            else:
                self.live.update(self.table())


def confirmer(yes: bool, question: str, *, always_show: bool = False) -> Callable[[Plan], bool]:
    def confirm(plan: Plan) -> bool:
        if always_show or not yes:
            for change in plan.deletes:
                err.print(styled("  ", ("delete", "red"), f" {change.kind} {change.name}"))
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                f"the plan deletes {len(plan.deletes)} resource{'s' if len(plan.deletes) != 1 else ''} "
                "and there is no terminal to confirm it; nothing was changed",
                hint="review the plan with `mailflow plan`, then pass --yes to confirm",
            )
        return typer.confirm(question, default=False, err=True)

    return confirm


@stack_options
def plan_command(
    *,
    json_output: JsonOption = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with status 2 when changes are pending.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List unchanged resources too (the JSON always lists them).")
    ] = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Show what deploy would change (read-only)."""
    from mailflow_cli.deploy import plan_stack

    plan = plan_stack(target.open())
    if json_output:
        print_json(plan.to_json())
    else:
        render_plan(plan, show_unchanged=show_all)
    if plan.conflicts or plan.blocked:
        raise typer.Exit(1)
    if exit_code and plan.has_changes:
        raise typer.Exit(2)


@stack_options
def deploy_command(
    *,
    yes: YesOption = False,
    allow_data_loss: Annotated[
        bool,
        typer.Option(
            "--allow-data-loss", help="Delete queues of removed apps even when they still hold mail."
        ),
    ] = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Create or update the stack so that it matches the config, then print its outputs."""
    from mailflow_cli.deploy import deploy_stack

    ctx = target.open()
    confirm = confirmer(yes, "Delete these resources?")
    with LiveProgress(err, title=f"Deploying {ctx.config.environment}") as progress:
        outputs = deploy_stack(
            ctx, assume_yes=yes, allow_data_loss=allow_data_loss, progress=progress, confirm=confirm
        )
    if json_output:
        print_json(outputs.to_json())
    else:
        render_outputs(outputs)


@stack_options
def outputs_command(
    *,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Print the stack's queue URLs, function ARN, bucket and table names (read-only)."""
    from mailflow_cli.deploy import read_outputs

    outputs = read_outputs(target.open())
    if json_output:
        print_json(outputs.to_json())
    else:
        render_outputs(outputs)


def render_destroy(report: DestroyReport) -> None:
    err.print(f"Deleted {len(report.deleted)} resource(s).")
    for item in report.left_alone:
        err.print(styled(("Left alone:", "yellow"), f" {item.kind} {item.name}: {item.reason}"))
    for item in report.kept:
        err.print(styled(("Kept:", "yellow"), f" {item.kind} {item.name}: {item.reason}"))


@stack_options
def destroy_command(
    *,
    yes: YesOption = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete a bucket or queues that still hold mail (emptying them)."),
    ] = False,
    json_output: JsonOption = False,
    target: StackTarget = DEFAULT_TARGET,
) -> None:
    """Delete every resource of this stack (only those carrying its ownership tags)."""
    from mailflow_cli.deploy import destroy_stack

    ctx = target.open()
    with LiveProgress(err, title=f"Destroying {ctx.config.environment}") as progress:
        report = destroy_stack(
            ctx,
            force=force,
            progress=progress,
            confirm=confirmer(yes, "Destroy these resources?", always_show=True),
        )
    if json_output:
        print_json(report.to_json())
    else:
        render_destroy(report)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
    app.command("deploy")(deploy_command)
    app.command("outputs")(outputs_command)
    app.command("destroy")(destroy_command)
