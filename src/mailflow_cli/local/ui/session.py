"""Who may use the web inbox: the browser that opened the URL ``mailflow local start`` printed.

Each start makes a random token (in ``state.json``, 0600, and in the printed URL). ``GET <any page>?token=
<token>`` exchanges it for a session cookie (HttpOnly, SameSite=Strict) and redirects to the same page
without the token, so it leaves the address bar and the history. Every page needs the cookie. Every state
change is a POST that needs the cookie and the form's CSRF token (derived from the session secret, which
a page of another origin cannot read), on top of the guard's Host and Origin checks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

TOKEN_BYTES = 32
CSRF_FIELD = "csrf"


def cookie_name(port: int) -> str:
    """Cookies are not scoped by port: the name keeps two emulators on one machine apart."""
    return f"mailflow_ui_{port}"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class UiSession:
    """The start's login token and the secret of the session cookie it is exchanged for."""

    port: int
    token: str
    secret: str = field(default_factory=new_token, repr=False)

    @property
    def cookie(self) -> str:
        return cookie_name(self.port)

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.secret.encode(), b"csrf", hashlib.sha256).hexdigest()

    def token_valid(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())

    def cookie_valid(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.secret.encode())

    def csrf_valid(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())
