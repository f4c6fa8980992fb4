"""Wiring and output of ``mailflow trace``: the timelines on stdout, what was searched on stderr."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from mailflow_cli.access import Grant, Scopes, allow
from mailflow_cli.console import err, out, print_json, styled
from mailflow_cli.context import StackContext
from mailflow_cli.naming import RAW_PREFIX
from mailflow_cli.operate.address_hash import address_hash, read_key
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.inbound_replay import SES_ID
from mailflow_cli.operate.logs import LogGroupMissing
from mailflow_cli.operate.progress import waiting
from mailflow_cli.operate.render import terminal_text
from mailflow_cli.operate.timing import current_clock
from mailflow_cli.operate.trace import INBOUND, Match, TraceEvent, iso, timelines
from mailflow_cli.operate.trace_logs import Found, Window, search
from mailflow_cli.operate.trace_query import build_query, parse_query
from mailflow_cli.operate.trace_stored import enrich, from_record

STEP_WIDTH = 13


def permissions(scopes: Scopes) -> tuple[Grant, ...]:
    """The handler's log lines (Logs Insights, or FilterLogEvents), its table (the address-hash key and
    the email records) and the raw mail's existence (HeadObject is authorised as s3:GetObject)."""
    return (
        allow(scopes.log_group, "logs:StartQuery", "logs:GetQueryResults", "logs:FilterLogEvents"),
        allow(scopes.any, "logs:StopQuery"),  # it names only the query id; IAM has no resource for it
        allow(scopes.table, "dynamodb:GetItem"),
        allow(scopes.bucket_prefix("RawMail", RAW_PREFIX), "s3:GetObject"),
        allow(scopes.bucket, "s3:ListBucket"),
    )


def run(ctx: StackContext, text: str, *, since: str, json_output: bool) -> bool:
    """Print every match; whether anything matched."""
    seconds = parse_duration(since, option="--since")
    parse_query(text)  # a bad QUERY is reported before any AWS call
    clock = current_clock()
    now = clock.now()
    window = Window(start_ms=int((now - seconds) * 1000), end_ms=int(now * 1000))
    notes: list[str] = []

    def hash_of(address: str) -> str | None:
        key = read_key(ctx)
        if key is None:
            notes.append(
                "no address hash key in the table yet (the handler makes it with its first email): "
                "addresses cannot be searched"
            )
            return None
        return address_hash(key, address)

    query = build_query(text, hash_of)
    with waiting(f"Searching {ctx.names.log_group} over the last {format_duration(seconds)}"):
        try:
            found = search(ctx, query, window, clock)
        except LogGroupMissing:
            found = Found()
            notes.append(
                f"the log group {ctx.names.log_group} does not exist (the stack is not deployed here)"
            )
        if found.note:
            notes.append(found.note)
        if found.truncated:
            notes.append(f"more than {len(found.lines)} log lines matched; narrow the window with --since")
        matches = timelines(found.lines, ctx)
        if not any(m.direction == INBOUND for m in matches) and SES_ID.fullmatch(query.text):
            stored = from_record(ctx, query.text)
            if stored is not None:
                matches.append(stored)
        enrich(ctx, matches)
    if json_output:
        print_json({"matches": [m.as_json() for m in matches]})
    else:
        for match in matches:
            _print_match(match)
    searched = f"{found.source} on {ctx.names.log_group}, last {format_duration(seconds)}"
    for note in notes:
        err.print(styled(("Note:", "yellow"), f" {note}"))
    if not matches:
        err.print(f"No email matches {text!r} ({searched}).")
        err.print(
            styled(
                ("Hint:", "dim"),
                f" widen the window (--since 7d), or check the environment and region "
                f"({ctx.names.prefix} in {ctx.config.region}; -c, --region, --local)",
            )
        )
        return False
    err.print(styled((f"{len(matches)} match(es); searched {searched}.", "dim")))
    return True


def _safe(value: Any) -> str:
    return terminal_text(str(value))


def _print_match(match: Match) -> None:
    header = styled(
        ("● ", "cyan"), (match.direction, "bold"), "  ", (match.outcome, _outcome_style(match.outcome))
    )
    if match.ses_message_id:
        header.append(f"  SES {_safe(match.ses_message_id)}")
    if match.message_id:
        header.append(f"  Message-ID <{_safe(match.message_id)}>")
    if match.correlation_id:
        header.append(f"  correlationId {_safe(match.correlation_id)}")
    if match.apps:
        header.append(f"  apps {_safe(', '.join(match.apps))}")
    out.print(header)
    for event in match.events:
        out.print(_event_line(event))
    stored = _stored_line(match.stored)
    if stored:
        out.print(styled(("  stored   ", "dim"), stored))
    for note in match.notes:
        out.print(styled(("  note     ", "dim"), _safe(note)))


def _outcome_style(outcome: str) -> str:
    if outcome in ("delivered", "sent", "delivery"):
        return "green"
    if outcome in ("duplicate", "send", "deliveryDelay"):
        return "yellow"
    return "red"


def _event_line(event: TraceEvent) -> Text:
    when = (iso(event.at_ms) or "(time unknown)").replace("T", " ").removesuffix("Z")
    line = styled((f"  {when:<23}  ", "dim"), (f"{event.step:<{STEP_WIDTH}}", "bold"))
    parts: list[str] = []
    if event.app:
        tag = event.detail.get("tag")
        parts.append(_safe(event.app) + (f" (+{_safe(tag)})" if tag else ""))
    if event.queue:
        parts.append(f"-> {_safe(event.queue)}")
    if event.sqs_message_id:
        parts.append(f"SQS {_safe(event.sqs_message_id)}")
    if event.step == "routed" and event.reason:
        parts.append(f"why: {_safe(event.reason)}")
    elif event.reason:
        parts.append(f"reason: {_safe(event.reason)}")
    parts.extend(_details(event))
    line.append("  ".join(parts))
    return line


def _details(event: TraceEvent) -> list[str]:
    detail = event.detail
    shown: list[str] = []
    if "mailFrom" in detail:
        shown.append(f"from {_safe(detail['mailFrom'])}")
    recipients = detail.get("recipients")
    if isinstance(recipients, list) and recipients:
        shown.append(f"to {_safe(', '.join(map(str, recipients)))}")
    if isinstance(detail.get("sizeBytes"), int):
        shown.append(f"{detail['sizeBytes']:,} bytes")
    if detail.get("rawKey"):
        shown.append(_safe(detail["rawKey"]))
    if detail.get("claimCheck"):
        shown.append("claim check")
    for key in ("correlationId", "sesMessageId"):
        if detail.get(key):
            shown.append(f"{key} {_safe(detail[key])}")
    if detail.get("replay"):
        shown.append("(replay)")
    if event.step not in ("requested",) and detail.get("outcome") and event.reason is None:
        shown.append(_safe(detail["outcome"]))
    return shown


def _stored_line(stored: dict[str, Any]) -> str:
    parts: list[str] = []
    record = stored.get("record", False)
    if record is None:
        parts.append("no idempotency record (expired, or the handler never took the email)")
    elif isinstance(record, dict):
        done = ", ".join(record.get("done", [])) or "nothing"
        receipt = "SES record stored" if record.get("receiptStored") else "no SES record stored"
        parts.append(f"record {record.get('status')} (done: {_safe(done)}; {receipt})")
    raw = stored.get("raw")
    if isinstance(raw, dict):
        if raw.get("present") is True:
            parts.append(f"{_safe(raw['key'])} present ({raw.get('bytes', 0):,} bytes)")
        elif raw.get("present") is False:
            parts.append(f"{_safe(raw['key'])} gone (expired or deleted)")
        else:
            parts.append(f"{_safe(raw['key'])} not readable ({_safe(raw.get('error', ''))})")
    return "; ".join(parts)
