"""``mailflow trace``: the timeline of every email a query matches, from what the stack already keeps.

Sources, all read-only: the handler's structured log lines (contract L), the email's idempotency record
(``inbound#<sesId>``: what was delivered, with the SQS message ids, and the stored SES record) and the
raw object in S3. App queues are never read: consumers drain them, and reading would take their mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailflow_cli.context import StackContext
from mailflow_cli.operate.trace_logs import LogLine
from mailflow_cli.operate.trace_query import EVENT_LINE, INBOUND_LINE, OUTBOUND_LINE

INBOUND = "inbound"
OUTBOUND = "outbound"
QUARANTINE_TARGET = "@quarantine"  # the handler's name for the quarantine in an email's done list


@dataclass(frozen=True)
class TraceEvent:
    at_ms: int | None
    step: str
    app: str | None = None
    queue: str | None = None
    sqs_message_id: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "at": iso(self.at_ms),
            "step": self.step,
            "app": self.app,
            "queue": self.queue,
            "sqsMessageId": self.sqs_message_id,
            "reason": self.reason,
        }
        if self.detail:
            document["detail"] = self.detail
        return document


@dataclass
class Match:
    direction: str
    ses_message_id: str | None
    message_id: str | None = None
    correlation_id: str | None = None
    outcome: str = "unknown"
    apps: list[str] = field(default_factory=list)
    events: list[TraceEvent] = field(default_factory=list)
    stored: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def first_ms(self) -> int:
        return min((e.at_ms for e in self.events if e.at_ms is not None), default=0)

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "direction": self.direction,
            "sesMessageId": self.ses_message_id,
            "messageId": self.message_id,
            "outcome": self.outcome,
            "apps": self.apps,
            "events": [event.as_json() for event in self.events],
        }
        if self.correlation_id is not None:
            document["correlationId"] = self.correlation_id
        if self.stored:
            document["stored"] = self.stored
        if self.notes:
            document["notes"] = self.notes
        return document


def iso(at_ms: int | None) -> str | None:
    if at_ms is None:
        return None
    return (
        datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_time(value: Any) -> int | None:
    """An ISO 8601 time (the handler's and SES's form) in epoch milliseconds, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


RETRYING_NOTE = (
    "the last attempt failed: Lambda retries an SES invocation twice, then puts the event on the inbound "
    "DLQ (`mailflow dlq list`; `mailflow dlq redrive inbound` delivers what is still due)"
)


# inbound ----------------------------------------------------------------------------------------------
def _routes(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The line's routes (contract L); for a line written before ``routes`` existed, the same derived
    from its ``apps``, ``quarantined`` and ``duplicates`` lists (queue and message ids unknown)."""
    routes = record.get("routes")
    if isinstance(routes, list):
        return [r for r in routes if isinstance(r, dict) and _text(r.get("app"))]
    derived: list[dict[str, Any]] = []
    for key, outcome in (("apps", "delivered"), ("quarantined", "quarantined"), ("duplicates", "duplicate")):
        values = record.get(key)
        for app in values if isinstance(values, list) else []:
            if isinstance(app, str) and app and not (outcome == "duplicate" and app == "quarantine"):
                derived.append({"app": app, "outcome": outcome})
    return derived


def _received(record: dict[str, Any], at_ms: int) -> TraceEvent:
    detail = {
        key: record[key]
        for key in ("mailFrom", "recipients", "sizeBytes", "rawKey")
        if record.get(key) not in (None, "", [])
    }
    return TraceEvent(parse_time(record.get("receivedAt")) or at_ms, "received", detail=detail)


def _route_events(record: dict[str, Any], at_ms: int) -> list[TraceEvent]:
    reasons = record.get("quarantineReasons")
    reasons = reasons if isinstance(reasons, dict) else {}
    replay = {"replay": True} if record.get("replay") is True else {}
    events: list[TraceEvent] = []
    for route in _routes(record):
        app, queue, outcome = str(route["app"]), _text(route.get("queue")), _text(route.get("outcome"))
        if outcome != "duplicate" and route.get("why") is not None:
            tag = {"tag": route["tag"]} if _text(route.get("tag")) else {}
            events.append(TraceEvent(at_ms, "routed", app, queue, reason=_text(route.get("why")), detail=tag))
        if outcome == "delivered":
            detail = {"claimCheck": bool(route.get("claimCheck")), **replay}
            events.append(
                TraceEvent(at_ms, "delivered", app, queue, _text(route.get("sqsMessageId")), detail=detail)
            )
        elif outcome == "quarantined":
            reason = _text(reasons.get(app)) or _text(record.get("reason"))
            events.append(TraceEvent(at_ms, "quarantined", app, reason=reason, detail=replay))
        elif outcome == "failed":
            events.append(
                TraceEvent(at_ms, "failed", app, queue, reason=_text(record.get("reason")), detail=replay)
            )
        elif outcome is not None:
            events.append(TraceEvent(at_ms, outcome, app, queue, detail=replay))
    dead = record.get("deadLetter")
    if isinstance(dead, dict) or record.get("outcome") == "dead_lettered":
        reason = _text(dead.get("reason")) if isinstance(dead, dict) else _text(record.get("reason"))
        events.append(TraceEvent(at_ms, "dead-lettered", reason=reason))
    return events


def _outcome_word(outcome: Any) -> str:
    return "dead-lettered" if outcome == "dead_lettered" else str(outcome or "unknown")


def _add_inbound(match: Match, line: LogLine) -> None:
    record = line.record
    if not any(event.step == "received" for event in match.events):
        match.events.append(_received(record, line.at_ms))
    match.message_id = match.message_id or _text(record.get("messageId"))
    match.events.extend(_route_events(record, line.at_ms))
    if record.get("outcome") != "duplicate" or match.outcome == "unknown":
        match.outcome = _outcome_word(record.get("outcome"))
    match.apps = _unique(match.apps + [str(r["app"]) for r in _routes(record)])


# outbound ---------------------------------------------------------------------------------------------
def _outbound_step(record: dict[str, Any]) -> str:
    outcome = record.get("outcome")
    if outcome == "failed" and record.get("reason") == "outcome_unknown":
        return "unknown"  # an earlier attempt died after asking SES: it may have been sent
    if outcome == "failed":
        return "failed" if record.get("retry") is True else "refused"
    return str(outcome or "unknown")


def _add_outbound(match: Match, line: LogLine, app_queue: Any) -> None:
    record = line.record
    app = _text(record.get("app"))
    queue = app_queue(app) if app else None
    match.correlation_id = match.correlation_id or _text(record.get("correlationId"))
    match.events.append(TraceEvent(line.at_ms, "requested", app, detail=_present(record, "correlationId")))
    step = _outbound_step(record)
    detail = _present(record, "sesMessageId")
    status_id = _text(record.get("statusSqsMessageId"))
    match.events.append(
        TraceEvent(
            line.at_ms,
            step,
            app,
            queue if status_id else None,
            status_id,
            _text(record.get("reason")),
            detail,
        )
    )
    if not any(e.step in FEEDBACK_STEPS for e in match.events):
        match.outcome = step
    match.apps = _unique(match.apps + ([app] if app else []))


FEEDBACK_STEPS = frozenset(
    {"send", "delivery", "bounce", "complaint", "reject", "deliveryDelay", "renderingFailure"}
)
DELIVERED_TO_APP = "delivered to app queue"


def _add_event(match: Match, line: LogLine, app_queue: Any) -> None:
    record = line.record
    app = _text(record.get("app"))
    step = str(record.get("event") or "event")
    outcome = _text(record.get("outcome"))
    reason = " ".join(
        str(record[key])
        for key in ("bounceType", "bounceSubType", "complaintFeedbackType")
        if _text(record.get(key))
    )
    if outcome != DELIVERED_TO_APP:
        reason = f"{reason} ({outcome})".strip() if outcome else reason
    delivered = outcome == DELIVERED_TO_APP
    match.correlation_id = match.correlation_id or _text(record.get("correlationId"))
    match.events.append(
        TraceEvent(
            line.at_ms,
            step,
            app,
            app_queue(app) if delivered and app else None,
            _text(record.get("sqsMessageId")) if delivered else None,
            reason or None,
            _present(record, "outcome"),
        )
    )
    match.outcome = step
    match.apps = _unique(match.apps + ([app] if app else []))


def _present(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: record[key] for key in keys if record.get(key) not in (None, "")}


# assembling -------------------------------------------------------------------------------------------
def _key(record: dict[str, Any]) -> tuple[str, ...]:
    ses_id = _text(record.get("sesMessageId"))
    if record.get("message") == INBOUND_LINE:
        return (INBOUND, ses_id or "")
    if ses_id:
        return (OUTBOUND, ses_id)
    return (
        OUTBOUND,
        "",
        str(record.get("app")),
        str(record.get("correlationId")),
        str(record.get("sqsMessageId")),
    )


def _event_order(event: TraceEvent) -> tuple[bool, int]:
    """By time; events whose time is unknown (read from the idempotency record) last."""
    return (event.at_ms is None, event.at_ms or 0)


def timelines(lines: list[LogLine], ctx: StackContext) -> list[Match]:
    """One match per email (inbound: per SES id; outbound: per sent SES id, or per request when nothing
    was sent), its events in order."""
    matches: dict[tuple[str, ...], Match] = {}

    def app_queue(app: str) -> str:
        return ctx.names.app_queue(app)

    for line in sorted(lines, key=lambda line: line.at_ms):
        record = line.record
        key = _key(record)
        match = matches.get(key)
        if match is None:
            match = matches[key] = Match(direction=key[0], ses_message_id=_text(record.get("sesMessageId")))
        kind = record.get("message")
        if kind == INBOUND_LINE:
            _add_inbound(match, line)
        elif kind == OUTBOUND_LINE:
            _add_outbound(match, line, app_queue)
        elif kind == EVENT_LINE:
            _add_event(match, line, app_queue)
    for match in matches.values():
        match.events.sort(key=_event_order)
        if match.direction == INBOUND and match.outcome == "retrying":
            match.notes.append(RETRYING_NOTE)
    return sorted(matches.values(), key=lambda match: match.first_ms)
