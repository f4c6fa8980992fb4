"""The replay marker (spec R): the targets an operator's replay of stored emails may be delivered to.

`mailflow replay` (and `mailflow dlq redrive inbound`, for a replay that failed past Lambda's retries)
invokes the function with the stored SES records and
`"mailflowReplay": {"version": 1, "targets": {"<sesId>": ["app", ...]}}`. SES never sends the marker;
only a principal allowed `lambda:InvokeFunction` can. An event that carries it must have exactly that
shape, hold only `aws:ses` records, and name every record's email in `targets` (and nothing else);
anything else is refused whole, before any record is processed. The marker only narrows: the handler
still routes and decides each email itself, and delivers to a listed target only where its own routing
gives that target.

Imports nothing beyond the standard library and `errors`, so the CLI builds its replay events and checks
a DLQ entry with these same functions.
"""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedEventError

MARKER = "mailflowReplay"
VERSION = 1
SES = "aws:ses"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message_id(record: Any) -> Any:
    ses = record.get("ses") if isinstance(record, dict) else None
    mail = ses.get("mail") if isinstance(ses, dict) else None
    return mail.get("messageId") if isinstance(mail, dict) else None


def _targets_problem(targets: Any) -> str | None:
    if not isinstance(targets, dict) or not targets:
        return f"{MARKER}.targets must map SES message ids to lists of app names, got {_shown(targets)}"
    for ses_id, apps in targets.items():
        if not isinstance(apps, list) or not apps or not all(isinstance(app, str) and app for app in apps):
            return (
                f"{MARKER}.targets[{_shown(ses_id)}] must be a non-empty list of app names, "
                f"got {_shown(apps)}"
            )
    return None


def problem(event: dict[str, Any]) -> str | None:
    """What is wrong with the replay marker of `event` (which carries one), or None when it is valid."""
    marker = event[MARKER]
    if not isinstance(marker, dict) or set(marker) != {"version", "targets"}:
        keys = sorted(map(str, marker))[:10] if isinstance(marker, dict) else type(marker).__name__
        return f'{MARKER} must be {{"version": {VERSION}, "targets": {{...}}}}, got {keys}'
    version = marker["version"]
    if type(version) is not int or version != VERSION:
        return f"{MARKER}.version must be {VERSION}, got {_shown(version)}"
    targets = marker["targets"]
    wrong = _targets_problem(targets)
    if wrong:
        return wrong
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return "a replay event holds the stored aws:ses records in Records"
    named: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.get("eventSource") != SES:
            return f"Records[{index}] is not an aws:ses record: only SES records are replayed"
        ses_id = _message_id(record)
        if not isinstance(ses_id, str) or ses_id not in targets:
            return f"Records[{index}] (ses.mail.messageId {_shown(ses_id)}) is not listed in {MARKER}.targets"
        named.add(ses_id)
    unnamed = sorted(str(ses_id) for ses_id in set(targets) - named)
    if unnamed:
        return f"{MARKER}.targets lists {_shown(unnamed)}, which no record in Records is"
    return None


def replay_targets(event: Any) -> dict[str, frozenset[str]] | None:
    """The targets per SES id of a replay event; None for any event without the marker. A marker that is
    not exactly right raises UnsupportedEventError naming what is wrong."""
    if not isinstance(event, dict) or MARKER not in event:
        return None
    wrong = problem(event)
    if wrong is not None:
        raise UnsupportedEventError(f"unsupported replay event: {wrong}")
    return {ses_id: frozenset(apps) for ses_id, apps in event[MARKER]["targets"].items()}


def event_for(emails: list[tuple[dict[str, Any], list[str]]]) -> dict[str, Any]:
    """The replay event for `emails` (stored record, targets): what the CLI invokes the function with."""
    return {
        "Records": [record for record, _ in emails],
        MARKER: {"version": VERSION, "targets": {_message_id(record): apps for record, apps in emails}},
    }


def targets_of(record: dict[str, Any], replay: dict[str, frozenset[str]] | None) -> frozenset[str] | None:
    """The targets `replay` lists for `record`'s email; None outside a replay."""
    return None if replay is None else replay[_message_id(record)]
