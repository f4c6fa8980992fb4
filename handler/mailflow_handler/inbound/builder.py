"""The messages of one email for its targets: parsed once, attachments stored once, the shared `email`
section serialised once, claim-checked at most once per target."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..clients import Deps
from ..errors import PermanentError
from . import message as msg
from .attachments import store_attachments
from .mime import Readable
from .parse import ParsedEmail, parse_stream
from .route import Route
from .verdicts import Security


class Builder:
    """Parses once, stores the attachments once, and builds the per-target messages, claim-checking
    bulky content at most once per target.

    Keys of stored objects hold the app name (contract C1), so with more than one target the `email`
    section is built with a random slot where an app name goes: it is serialised once and each target's
    copy replaces the slot with its app (and is spliced into that target's envelope). A single target's
    message is built with its app name and serialised whole.
    """

    def __init__(self, deps: Deps, ses_id: str, load: Callable[[], Readable]) -> None:
        self._deps = deps
        self._ses_id = ses_id
        self._load = load
        self._apps: list[str] = []
        self._slot = ""
        self._parsed: ParsedEmail | None = None
        self._email: dict[str, Any] | None = None
        self._serialised: tuple[str, int, int] | None = None  # JSON, UTF-8 size, slot count
        self._claim_document: bytes | None = None
        self.claimed = False
        self.attachments = 0
        self.size_bytes = 0

    def parse(self) -> ParsedEmail:
        if self._parsed is None:
            self._parsed = parse_stream(self._load(), self._deps.config.limits)
            self.size_bytes = self._parsed.size_bytes
        return self._parsed

    def deliver_to(self, apps: list[str]) -> None:
        """The apps the message is built for: the ones whose objects are stored in this attempt."""
        self._apps = apps
        self._slot = os.urandom(16).hex() if len(apps) > 1 else apps[0]  # unguessable: mail cannot contain it

    def _email_section(self) -> dict[str, Any]:
        if self._email is None:
            cfg = self._deps.config
            parsed = self.parse()
            described = store_attachments(
                parsed.attachments,
                self._deps.s3,
                bucket=cfg.bucket,
                prefix=cfg.prefix_attachments,
                ses_message_id=self._ses_id,
                apps=self._apps,
                app_slot=self._slot,
            )
            self.attachments = len(described)
            parsed.attachments.clear()
            self._email = msg.email_section(parsed, described)
        return self._email

    def _shared_json(self, app: str) -> tuple[str, int]:
        """The shared `email` section as JSON for `app`, and its UTF-8 size: serialised once per email."""
        if self._serialised is None:
            text = msg.serialise(self._email_section())
            self._serialised = (text, _size(text), text.count(self._slot))
        text, size, slots = self._serialised
        return text.replace(self._slot, app), size + slots * (len(app.encode("utf-8")) - len(self._slot))

    def _claimed_section(self, app: str) -> dict[str, Any]:
        """The email section with its bulky fields in `claims/<app>/<sesId>.json` (one per target: the
        document names that app's attachment keys)."""
        cfg = self._deps.config
        if self._claim_document is None:
            self._claim_document = msg.claim_document(self._email_section())
        document = self._claim_document.replace(self._slot.encode("utf-8"), app.encode("utf-8"))
        key = f"{cfg.prefix_claims}{app}/{self._ses_id}.json"
        self._deps.s3.put_object(Bucket=cfg.bucket, Key=key, Body=document, ContentType="application/json")
        self.claimed = True
        return msg.apply_claim(self._email_section(), cfg.bucket, key, document)

    def body_for(
        self, r: Route, security: Security, mail: dict[str, Any], receipt: dict[str, Any], raw_key: str
    ) -> tuple[str, int]:
        """The target's SQS message body and its size in UTF-8 bytes (measured once, reused by the log)."""
        cfg = self._deps.config
        built = msg.build(
            route=r,
            email=self._email_section(),
            security=security,
            mail=mail,
            receipt=receipt,
            bucket=cfg.bucket,
            raw_key=raw_key,
        )
        if self.claimed:
            body, size = self._serialise(built, self._claimed_section(r.app))
        else:
            body, size = self._serialise(built, None)
            if size > cfg.sqs_max_message_bytes:
                body, size = self._serialise(built, self._claimed_section(r.app))
        if size <= cfg.sqs_max_message_bytes:
            return body, size
        raise PermanentError(f"message is {size} bytes after the claim check", reason="message_too_large")

    def _serialise(self, built: dict[str, Any], claimed: dict[str, Any] | None) -> tuple[str, int]:
        if len(self._apps) == 1:
            if claimed is not None:
                built = {**built, "email": claimed}
            body = msg.serialise(built)
            return body, _size(body)
        prefix, suffix = msg.serialise_around(built)
        if claimed is not None:
            email_json = msg.serialise(claimed)
            email_size = _size(email_json)
        else:
            email_json, email_size = self._shared_json(built["app"])
        return prefix + email_json + suffix, _size(prefix) + email_size + _size(suffix)


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))
