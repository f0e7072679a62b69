"""Dockyard's authentication as the bench uses it: Docker token auth.

Dockyard starts with an administrator (`admin`, password from DOCKYARD_ADMIN_PASSWORD,
generated per run). The bench asks the token endpoint, with basic credentials, for one
bearer token per set of repositories a scenario uses (one token carries a scope per
repository) and sends `Authorization: Bearer <token>` on every request of that
scenario, as docker and containerd do. Tokens are cached until shortly before they
expire; the bench server's lifetime is TOKEN_EXPIRY_S, longer than any run.

The Go registry runs without authentication: its servers have no credentials, and
their headers are empty.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from client import RegistryError

ADMIN_USER = "admin"
ADMIN_PASSWORD_ENV = "DOCKYARD_ADMIN_PASSWORD"
TOKEN_EXPIRY_ENV = "DOCKYARD__AUTH__TOKEN__EXPIRY_SECONDS"
TOKEN_EXPIRY_S = 7200  # the server's maximum is 86400
TOKEN_PATH = "/auth/token"
SERVICE = "dockyard"
ACTIONS = "pull,push,delete"
REFRESH_MARGIN_S = 120.0  # fetch a new token when less than this is left


@dataclass(frozen=True)
class Credentials:
    """The administrator's basic credentials (the password never goes in the JSON)."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def generate(cls) -> Credentials:
        return cls(ADMIN_USER, secrets.token_urlsafe(18))

    @property
    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def server_env(self) -> dict[str, str]:
        """What Dockyard's environment needs: the first administrator's password
        (used when the database has no administrator yet) and the token lifetime."""
        return {ADMIN_PASSWORD_ENV: self.password, TOKEN_EXPIRY_ENV: str(TOKEN_EXPIRY_S)}


@dataclass
class _Held:
    token: str
    renew_at: float  # time.monotonic()


class TokenSource:
    """Bearer tokens from one Dockyard's token endpoint, one per repository set."""

    def __init__(self, host: str, port: int, credentials: Credentials) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing non-loopback target {host}")
        self.host = host
        self.port = port
        self.credentials = credentials
        self._held: dict[frozenset[str], _Held] = {}
        self.fetched: list[dict[str, Any]] = []  # for the JSON: no token values

    def token(self, repos: Iterable[str]) -> str:
        key = frozenset(repos)
        held = self._held.get(key)
        if held is not None and held.renew_at > time.monotonic():
            return held.token
        token, expires_in = self._fetch(sorted(key))
        renew = max(expires_in - REFRESH_MARGIN_S, expires_in / 2)
        self._held[key] = _Held(token, time.monotonic() + renew)
        return token

    def headers(self, repos: Iterable[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(repos)}"}

    def _fetch(self, repos: list[str]) -> tuple[str, float]:
        query = [("service", SERVICE)] + [("scope", f"repository:{r}:{ACTIONS}") for r in repos]
        path = f"{TOKEN_PATH}?{urlencode(query)}"
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": self.credentials.basic})
            resp = conn.getresponse()
            body = resp.read()
        except (http.client.HTTPException, OSError) as exc:
            raise RegistryError(f"token request for {repos}: {exc!r}") from exc
        finally:
            conn.close()
        if resp.status != 200:
            snippet = body[:300].decode(errors="replace")
            raise RegistryError(f"token request for {repos}: HTTP {resp.status} {snippet}")
        try:
            answer = json.loads(body)
            token = str(answer["token"])
            expires_in = float(answer.get("expires_in", 60))
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"token request for {repos}: bad answer ({exc!r})") from exc
        self.fetched.append(
            {
                "repositories": repos,
                "actions": ACTIONS,
                "expires_in": expires_in,
                "seconds": time.perf_counter() - t0,
                "token_bytes": len(token),
            }
        )
        return token, expires_in
