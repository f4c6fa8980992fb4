"""Wiring and output of ``mailflow replay``: the plan, the confirmation, the invocations."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.errors import UsageError
from mailflow_cli.naming import DEFAULT_TARGET
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.render import terminal_text
from mailflow_cli.operate.replay import Delivery, ReplayPlan, deliver, plan, window_of
from mailflow_cli.operate.replay_plan import CANNOT, DELIVER, QUARANTINED, UP_TO_DATE, EmailPlan, Router
from mailflow_cli.operate.timing import current_clock
from mailflow_cli.operate.trace import iso
from mailflow_cli.packaging import runtime_config

SHOWN_EMAILS = 20  # the human output lists this many of each kind; --json lists all
CATEGORY_WIDTH = 15


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """Listing raw/ in the window, the emails' stored records, and invoking the handler with them."""
    return (
        allow(scopes.bucket, "s3:ListBucket"),
        allow(scopes.table, "dynamodb:BatchGetItem", "dynamodb:GetItem"),
        allow(scopes.function, "lambda:InvokeFunction"),
    )


def run(
    ctx: StackContext,
    *,
    since: str,
    until: str | None,
    app: str | None,
    dry_run: bool,
    assume_yes: bool,
    json_output: bool,
) -> bool:
    """Plan, confirm and deliver; whether every email in the window could be replayed."""
    clock = current_clock()
    window = window_of(since, until, clock.now())
    only_app = _only_app(ctx, app)
    router = Router(runtime_config(ctx.config, ctx.names))
    with waiting(f"Listing raw mail in s3://{ctx.names.bucket}/raw/"):
        shown = plan(ctx, window, router, only_app, clock)
    delivery: Delivery | None = None
    if not json_output:
        _print_plan(ctx, shown)
    if not dry_run and shown.of(DELIVER):
        _confirm(shown, assume_yes)
        with waiting(f"Invoking {ctx.names.function}"):
            delivery = deliver(ctx, shown, router, only_app, clock)
    if json_output:
        print_json(_document(shown, dry_run, delivery))
    elif delivery is not None:
        _print_delivery(ctx, delivery)
    cannot = shown.of(CANNOT)
    if cannot:
        err.print(f"{len(cannot)} email(s) could not be replayed (listed above with the reason).")
    return not cannot


def _only_app(ctx: StackContext, app: str | None) -> str | None:
    if app is None:
        return None
    name = app.strip().lower()
    if name != DEFAULT_TARGET and ctx.config.app(name) is None:
        raise UsageError(
            f"--app: {app!r} is not an app of the stack {ctx.names.prefix}",
            hint=f"choose one of: {', '.join(ctx.config.app_names)}, {DEFAULT_TARGET} (in {ctx.config_path})",
        )
    return name


def _confirm(shown: ReplayPlan, assume_yes: bool) -> None:
    import typer

    count = len(shown.of(DELIVER))
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"replay would deliver {count} email(s) and needs confirmation; nothing was delivered",
            hint="review the plan (--dry-run), then pass --yes",
        )
    if not typer.confirm(f"Deliver {count} email(s) as shown?", default=False, err=True):
        raise UsageError("replay cancelled; nothing was delivered")


def _document(shown: ReplayPlan, dry_run: bool, delivery: Delivery | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "window": {"since": iso(int(shown.window.start * 1000)), "until": iso(int(shown.window.end * 1000))},
        "dryRun": dry_run,
        "emails": len(shown.emails),
        "perApp": dict(sorted(shown.per_app().items())),
        "counts": {
            category: len(shown.of(category)) for category in (DELIVER, UP_TO_DATE, QUARANTINED, CANNOT)
        },
        "plan": [email.as_json() for email in shown.emails if email.category != UP_TO_DATE],
    }
    if delivery is not None:
        document["delivered"] = {
            "invocations": delivery.invocations,
            "emails": delivery.emails,
            "perApp": dict(sorted(delivery.per_app.items())),
            "nothingLeft": delivery.dropped,
        }
    return document


def _print_plan(ctx: StackContext, shown: ReplayPlan) -> None:
    since = iso(int(shown.window.start * 1000))
    until = iso(int(shown.window.end * 1000))
    out.print(
        styled(
            ("Replay", "bold"),
            f" of {ctx.names.prefix}: {len(shown.emails)} raw email(s) stored from {since} to {until}",
        )
    )
    planned = shown.of(DELIVER)
    per_app = ", ".join(f"{terminal_text(app)}: {count}" for app, count in sorted(shown.per_app().items()))
    out.print(
        styled(
            "  ", (f"{DELIVER:<{CATEGORY_WIDTH}}", "green"), f"{len(planned)} email(s) ({per_app or 'none'})"
        )
    )
    _print_emails(
        planned,
        lambda email: (
            f"-> {', '.join(email.targets)}" + (f" (already: {', '.join(email.done)})" if email.done else "")
        ),
    )
    for category, style in ((UP_TO_DATE, "dim"), (QUARANTINED, "yellow"), (CANNOT, "red")):
        emails = shown.of(category)
        if emails:
            out.print(styled("  ", (f"{category:<{CATEGORY_WIDTH}}", style), f"{len(emails)} email(s)"))
            if category != UP_TO_DATE:
                _print_emails(emails, lambda email: email.reason)


def _print_emails(emails: list[EmailPlan], describe: Callable[[EmailPlan], str]) -> None:
    for email in emails[:SHOWN_EMAILS]:
        out.print(f"    {terminal_text(email.ses_id)}  {terminal_text(describe(email))}")
    if len(emails) > SHOWN_EMAILS:
        out.print(f"    ... and {len(emails) - SHOWN_EMAILS} more (--json lists all)")


def _print_delivery(ctx: StackContext, delivery: Delivery) -> None:
    per_app = ", ".join(f"{app} {count}" for app, count in sorted(delivery.per_app.items()))
    out.print(
        f"Invoked {ctx.names.function} {delivery.invocations} time(s) (asynchronously) for "
        f"{delivery.emails} email(s): {per_app or 'none'}."
    )
    if delivery.dropped:
        out.print(f"{len(delivery.dropped)} planned email(s) had nothing left to deliver when invoked.")
    out.print("Follow them with mailflow trace SES_ID, or mailflow logs --since 10m.")
