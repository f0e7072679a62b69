"""Browser sessions (after an OIDC login) and the short-lived state of a login in
progress, both as signed cookies (itsdangerous) keyed by a secret every replica
shares through the metadata database."""

from __future__ import annotations

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

    def issue(self, username: str) -> str:
        return self._session.dumps({"u": username})

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
