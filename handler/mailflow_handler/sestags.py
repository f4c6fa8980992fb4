"""The SES message tags that tie an SES event back to the app and request that sent the email (contract E).

Every send carries `mailflow-app` (the app) and `mailflow-cid` (its correlationId). SES accepts a tag
value of 1 to 256 characters from `A-Z a-z 0-9 _ -` only (API reference, MessageTag). A value already of
that form (and not starting with the marker) is sent as it is; anything else is sent as `b64-` followed
by the unpadded base64url of its UTF-8 bytes (base64url's alphabet is exactly the allowed one), so at
most 189 bytes fit. Decoding accepts only the canonical form, so each value names exactly one text.
"""

from __future__ import annotations

import base64
import binascii
import re

APP_TAG = "mailflow-app"
CORRELATION_TAG = "mailflow-cid"
MAX_VALUE_CHARS = 256
ENCODED_MARKER = "b64-"
MAX_ENCODED_BYTES = (MAX_VALUE_CHARS - len(ENCODED_MARKER)) * 3 // 4  # 189
_ALLOWED = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TagValueError(ValueError):
    """The text cannot be carried in one SES tag value."""


def encode_value(text: str) -> str:
    """`text` as an SES tag value: itself when allowed as it is, else the marked base64url form."""
    if _ALLOWED.fullmatch(text) and not text.startswith(ENCODED_MARKER):
        return text
    data = text.encode("utf-8")
    if len(data) > MAX_ENCODED_BYTES:
        raise TagValueError(
            f"{len(data)} bytes of UTF-8 do not fit in an SES tag value once encoded "
            f"(at most {MAX_ENCODED_BYTES} bytes, or 256 characters of A-Z a-z 0-9 _ -)"
        )
    return ENCODED_MARKER + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_value(value: object) -> str | None:
    """The text `encode_value` made `value` from; None for anything it cannot have made."""
    if not isinstance(value, str) or not _ALLOWED.fullmatch(value):
        return None
    if not value.startswith(ENCODED_MARKER):
        return value
    body = value[len(ENCODED_MARKER) :]
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not text:
        return None
    try:
        canonical = encode_value(text) == value
    except TagValueError:
        return None
    return text if canonical else None


def email_tags(app: str, correlation_id: str) -> list[dict[str, str]]:
    """The `EmailTags` of an SES SendEmail call (validation has checked that both fit)."""
    return [
        {"Name": APP_TAG, "Value": encode_value(app)},
        {"Name": CORRELATION_TAG, "Value": encode_value(correlation_id)},
    ]
