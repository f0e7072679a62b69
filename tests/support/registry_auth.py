"""httpx authentication for the registry as real clients do it: Docker token auth.

Before each /v2/ request the scope it needs is worked out from the path (as docker
and containerd do), a bearer token for it is fetched from the realm the registry
announced with basic credentials, and cached until shortly before it expires. A
401 that still comes back (say, a token that expired in flight) is retried once with
a fresh token when the request body can be replayed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator

import httpx

_REPO_PATH = re.compile(r"/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)(?:/|$)")


def scope_for(url: httpx.URL) -> str:
    """Space-separated scopes the request needs; a cross-repository mount also asks to
    pull from its source, as docker does."""
    m = _REPO_PATH.match(url.path)
    if m is None:
        return "registry:catalog:*"
    scope = f"repository:{m.group('name')}:pull,push,delete"
    source = url.params.get("from")
    return f"{scope} repository:{source}:pull" if source else scope


class RegistryAuth(httpx.Auth):
    def __init__(
        self, username: str, password: str, base_url: str, *, also: tuple[str, ...] = ()
    ) -> None:
        """`also`: base URLs of further replicas that accept the same tokens."""
        self.credentials = httpx.BasicAuth(username, password)
        self.realm = f"{base_url.rstrip('/')}/auth/token"
        self.hosts = {httpx.URL(url).netloc for url in (base_url, *also)}
        self.service = "dockyard"
        self._tokens: dict[str, tuple[str, float]] = {}

    def _token_request(self, scope: str) -> httpx.Request:
        request = httpx.Request("GET", self.realm, params={"service": self.service, "scope": scope})
        return next(self.credentials.auth_flow(request))

    def _cached(self, scope: str) -> str | None:
        held = self._tokens.get(scope)
        if held is not None and held[1] > time.monotonic():
            return held[0]
        return None

    def _store(self, scope: str, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"token request failed: {response.status_code} {response.text[:300]}",
                request=response.request,
                response=response,
            )
        body = response.json()
        token = str(body["token"])
        self._tokens[scope] = (token, time.monotonic() + int(body.get("expires_in", 60)) - 10)
        return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.netloc not in self.hosts:
            yield request  # a presigned storage URL, say: it carries its own signature
            return
        if not request.url.path.startswith("/v2"):
            yield from self.credentials.auth_flow(request)
            return
        scope = scope_for(request.url)
        token = self._cached(scope)
        if token is None:
            response = yield self._token_request(scope)
            response.read()
            token = self._store(scope, response)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401 or not _replayable(request):
            return
        self._tokens.pop(scope, None)
        fresh = yield self._token_request(scope)
        fresh.read()
        request.headers["Authorization"] = f"Bearer {self._store(scope, fresh)}"
        yield request


def _replayable(request: httpx.Request) -> bool:
    try:
        request.content  # noqa: B018 - raises for a streaming body not read yet
    except httpx.RequestNotRead:
        return False
    return True
