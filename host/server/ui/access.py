"""Who may use the console, and CSRF-safe forms.

The API's bearer token (``serve --token``) guards the console too, but a browser cannot
send a header from a form, so the console has its own sign-in: a form that takes the
token and sets a session cookie (HttpOnly, SameSite=Strict, path ``/ui``). The cookie
is ``<nonce>.<mac>``, an HMAC of a random nonce under a key derived from the token, so
the server keeps no session table and a cookie never reveals the token. Without a
token the console is open, as the API is, and hands every browser such a cookie
without asking (the key is then random per process).

Every POST form carries a CSRF token: an HMAC of the session's nonce under the same
key, checked against the cookie. A page of another site can neither read it nor (with
SameSite=Strict) send the cookie, so it cannot post a form here.

The sign-in form has no session yet, so it gets a pre-session of its own (login CSRF):
showing the form sets a short-lived cookie holding a random nonce and puts the nonce's
HMAC in a hidden field; a sign-in POST without both, matching, is refused. Another site
cannot make a browser sign in to this console behind the person's back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "agent_host_console"
COOKIE_PATH = "/ui"
SIGNIN_COOKIE = "agent_host_signin"  # the sign-in form's pre-session
SIGNIN_MAX_AGE_S = 3600


@dataclass(frozen=True)
class Session:
    nonce: str
    csrf: str


class ConsoleAccess:
    """Issues and checks session cookies and CSRF tokens for one server process."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        material = token.encode() if token is not None else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"agent-host console v1\0" + material).digest()

    @property
    def needs_sign_in(self) -> bool:
        return self.token is not None

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self.token.encode()
        )

    def _mac(self, purpose: str, nonce: str) -> str:
        return hmac.new(self._key, f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> tuple[Session, str]:
        """A fresh session and the cookie value that carries it."""
        nonce = secrets.token_urlsafe(18)
        return Session(nonce, self._mac("csrf", nonce)), f"{nonce}.{self._mac('session', nonce)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie proves, or None for a missing, forged or stale one."""
        if not cookie:
            return None
        nonce, _, mac = cookie.partition(".")
        if not nonce or not hmac.compare_digest(mac.encode(), self._mac("session", nonce).encode()):
            return None
        return Session(nonce, self._mac("csrf", nonce))

    def new_signin(self) -> tuple[str, str]:
        """A sign-in form's pre-session: the cookie value and the form's CSRF token."""
        nonce = secrets.token_urlsafe(18)
        return nonce, self._mac("signin", nonce)

    def signin_ok(self, cookie: str | None, given: str | None) -> bool:
        """Whether a sign-in POST carries the token of the form its browser was shown."""
        if not cookie or not given:
            return False
        expected = self._mac("signin", cookie)
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        return (
            session is not None
            and given is not None
            and hmac.compare_digest(given.encode("utf-8", "replace"), session.csrf.encode())
        )
