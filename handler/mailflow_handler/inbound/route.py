"""Routing on SES envelope recipients (`receipt.recipients`), never on To/Cc headers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Config

DEFAULT_APP = "default"
RESERVED_APPS = frozenset(
    {"default", "outbound", "dlq", "inbound-dlq", "apps-dlq", "outbound-dlq", "ses-events"}
)


@dataclass
class Route:
    """One destination for an email: an app queue, or the default queue (app == "default")."""

    app: str
    queue: str
    recipients: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        return self.app == DEFAULT_APP

    @property
    def tag(self) -> str | None:
        return self.tags[0] if self.tags else None


def _reserved(name: str, config: Config) -> bool:
    """A reserved name, or an app whose queue is one of the stack's own queues."""
    app = config.apps.get(name)
    reserved_queues = (
        config.default_queue,
        config.outbound_queue,
        config.inbound_dlq,
        config.outbound_dlq,
        config.apps_dlq or config.default_queue,  # appsDlq is optional in the config
        config.ses_events_queue or config.default_queue,  # only with the feedback path
    )
    return name in RESERVED_APPS or (app is not None and app.queue in reserved_queues)


def _app_name(local: str) -> tuple[str, str | None] | None:
    """(app name, plus tag) of a `_<app>[+<tag>]` local part; None for any other local part."""
    if len(local) > 1 and local.startswith("_"):
        name, plus, tag = local[1:].partition("+")
        return name.lower(), (tag if plus and tag else None)
    return None


def app_for(recipient: str, config: Config) -> tuple[str | None, str | None, bool]:
    """(app, tag, in_domain) for one envelope recipient; app is None when it names no configured app."""
    local, at, domain = recipient.strip().rpartition("@")
    if not at or domain.lower().rstrip(".") not in config.domains:
        return None, None, False
    named = _app_name(local)
    if named is not None and named[0] in config.apps and not _reserved(named[0], config):
        return named[0], named[1], True
    return None, None, True


def why(r: Route, config: Config) -> str:
    """Why the email went to this route (contract L): `app` (a recipient named the app), `reserved` (every
    recipient of the default route named a reserved app name), `default` (anything else)."""
    if not r.is_default:
        return "app"
    names = [_app_name(rcpt.strip().rpartition("@")[0]) for rcpt in r.recipients]
    if names and all(n is not None and _reserved(n[0], config) for n in names):
        return "reserved"
    return "default"


def route(recipients: list[str], config: Config) -> list[Route]:
    """App routes in first-seen order, then at most one default route for everything else."""
    routes: dict[str, Route] = {}
    unmatched: list[str] = []
    for recipient in recipients:
        if not isinstance(recipient, str):
            continue
        app, tag, in_domain = app_for(recipient, config)
        if not in_domain:
            continue
        if app is None:
            unmatched.append(recipient)
            continue
        found = routes.get(app)
        if found is None:
            found = routes[app] = Route(app=app, queue=config.apps[app].queue)
        found.recipients.append(recipient)
        if tag is not None and tag not in found.tags:
            found.tags.append(tag)
    result = list(routes.values())
    if unmatched or not result:
        result.append(Route(app=DEFAULT_APP, queue=config.default_queue, recipients=unmatched))
    return result
