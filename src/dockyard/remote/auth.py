"""Authentication to a remote registry as docker does it: the `WWW-Authenticate`
challenge of a 401 says Bearer (the Docker token spec: ask the realm for a token for
the scopes, with basic credentials or anonymously) or Basic (send the credentials on
every request). Tokens are cached per scope set until their `expires_in`."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from dataclasses import dataclass, field

import httpx

from dockyard.remote import Endpoint, RemoteDenied, RemoteError

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
DEFAULT_EXPIRES = 60.0
"""the token spec's default lifetime when the answer has no expires_in"""
MARGIN = 5.0
"""seconds before expiry a token is renewed"""


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    """"bearer" or "basic" (lowercase)"""
    params: dict[str, str]

    @property
    def insufficient_scope(self) -> bool:
        return self.params.get("error") == "insufficient_scope"


def parse_challenge(header: str | None) -> Challenge | None:
    """`Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; None when absent
    or neither scheme."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return Challenge(scheme, params)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def delete_scope(repository: str) -> str:
    """distribution 2.8+ and Harbor check a `delete` action; a token service grants the
    subset the credentials hold"""
    return f"repository:{repository}:pull,push,delete"


CATALOG_SCOPE = "registry:catalog:*"


@dataclass
class _Token:
    value: str
    expires: float


@dataclass
class Authenticator:
    """The auth state of one client: the scheme the remote asked for, the realm and
    service of its token service, and the tokens held per scope set."""

    endpoint: Endpoint
    scheme: str | None = None
    realm: str | None = None
    service: str | None = None
    _tokens: dict[tuple[str, ...], _Token] = field(default_factory=dict)
    _locks: dict[tuple[str, ...], asyncio.Lock] = field(default_factory=dict)

    @property
    def has_credentials(self) -> bool:
        return bool(self.endpoint.username)

    def basic_header(self) -> str:
        raw = f"{self.endpoint.username or ''}:{self.endpoint.secret or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization header to send now for `scopes`, without asking anyone."""
        if self.scheme == "basic":
            return self.basic_header() if self.has_credentials else None
        if self.scheme == "bearer":
            held = self._tokens.get(scopes)
            if held is not None and held.expires > time.monotonic():
                return f"Bearer {held.value}"
        return None

    def learn(self, challenge: Challenge) -> None:
        self.scheme = challenge.scheme
        if challenge.scheme == "bearer":
            self.realm = challenge.params.get("realm") or self.realm
            self.service = challenge.params.get("service", self.service)

    def forget(self, scopes: tuple[str, ...]) -> None:
        self._tokens.pop(scopes, None)

    async def answer(
        self, client: httpx.AsyncClient, challenge: Challenge, scopes: tuple[str, ...]
    ) -> str | None:
        """The header to retry with after `challenge`; None when there is nothing
        better to send (Basic without credentials)."""
        self.learn(challenge)
        if challenge.scheme == "basic":
            return self.basic_header() if self.has_credentials else None
        wanted = scopes
        extra = challenge.params.get("scope")
        if extra and extra not in wanted:
            wanted = (*wanted, extra)
        if challenge.insufficient_scope:
            self.forget(scopes)
        lock = self._locks.setdefault(scopes, asyncio.Lock())
        async with lock:
            header = None if challenge.insufficient_scope else self.header(scopes)
            if header is not None:  # another request fetched it meanwhile
                return header
            token, expires_in = await self._fetch(client, wanted)
            self._tokens[scopes] = _Token(token, time.monotonic() + max(expires_in - MARGIN, 1.0))
            return f"Bearer {token}"

    async def _fetch(self, client: httpx.AsyncClient, scopes: tuple[str, ...]) -> tuple[str, float]:
        if not self.realm:
            raise RemoteError(f"{self.endpoint.name}: Bearer challenge without a realm", 401)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if self.service:
            params.append(("service", self.service))
        params.extend(("scope", s) for s in scopes)
        headers = {"Authorization": self.basic_header()} if self.has_credentials else {}
        # a realm on another host gets the credentials: that is the token spec (the
        # endpoint's credentials are for its token service)
        response = await client.get(self.realm, params=params, headers=headers)
        if response.status_code in (401, 403):
            raise RemoteDenied(
                f"{self.endpoint.name}: the token service refused the credentials"
                f" (HTTP {response.status_code})",
                response.status_code,
                "UNAUTHORIZED",
            )
        if response.status_code != 200:
            raise RemoteError(
                f"{self.endpoint.name}: the token service answered HTTP {response.status_code}",
                response.status_code,
            )
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            expires = float(body.get("expires_in") or DEFAULT_EXPIRES)
        except (ValueError, AttributeError, TypeError):
            token, expires = None, DEFAULT_EXPIRES
        if not isinstance(token, str) or not token:
            raise RemoteError(f"{self.endpoint.name}: the token service sent no token", 200)
        return token, expires
