"""Browser sessions and the short-lived state of an OIDC login in progress, both as
signed cookies (itsdangerous) keyed by a secret every replica shares through the
metadata database. A session cookie names its user and a random session id whose
SHA-256 is a row of `user_sessions` (AuthService): the signature stops forgery, the
row lets signing out end the session."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "dockyard_session"
PENDING_COOKIE = "dockyard_oidc"
SESSION_SECONDS = 12 * 3600
PENDING_SECONDS = 600
# Cookie-authenticated changes must carry this header: a cross-site form cannot set it,
# and no CORS policy lets another origin's script do so.
CSRF_HEADER = "x-requested-with"


class Sessions:
    def __init__(self, secret: str) -> None:
        self._session = URLSafeTimedSerializer(secret, salt="dockyard-session")
        self._pending = URLSafeTimedSerializer(secret, salt="dockyard-oidc-pending")

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def id_hash(session_id: str) -> str:
        """What the database keeps of a session id: a leaked table ends no one's."""
        return hashlib.sha256(session_id.encode()).hexdigest()

    def issue(self, username: str, session_id: str) -> str:
        return self._session.dumps({"u": username, "s": session_id})

    def read(self, cookie: str) -> dict[str, Any] | None:
        try:
            data = self._session.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def pending(self, state: dict[str, str]) -> str:
        return self._pending.dumps(state)

    def read_pending(self, cookie: str) -> dict[str, str] | None:
        try:
            data = self._pending.loads(cookie, max_age=PENDING_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None
