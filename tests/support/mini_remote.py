"""A minimal `Remote` over httpx for the proxy cache's tests and benchmark while the
real client (dockyard.remote.client, branch "remote") is not merged: the pull side
only (HEAD/GET manifests, HEAD/GET blobs streamed, tags), Docker token auth against
a Dockyard upstream (basic credentials to its realm, one pull token per repository),
and a count of what it received, measured at the HTTP client: bytes of blob bodies
read off the wire and requests per kind."""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

import httpx

from dockyard.remote import (
    ALL_MANIFEST_TYPES,
    Descriptor,
    Endpoint,
    Health,
    Manifest,
    RateLimit,
    Referrer,
    RemoteDenied,
    RemoteError,
    RemoteNotFound,
    RemoteRateLimited,
    RemoteUnavailable,
)


@dataclass
class MiniStream:
    size: int | None
    response: httpx.Response
    counter: Counter[str]

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw(1 << 20):
                self.counter["blob_bytes"] += len(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"upstream broke off: {exc}") from None


@dataclass
class MiniRemote:
    endpoint: Endpoint
    rate_limit: RateLimit = field(default_factory=RateLimit)
    counter: Counter[str] = field(default_factory=Counter)
    _tokens: dict[str, str] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.endpoint.url, timeout=60.0)
        return self._client

    async def _token(self, repository: str) -> str:
        held = self._tokens.get(repository)
        if held is not None:
            return held
        auth = (self.endpoint.username or "", self.endpoint.secret or "")
        try:
            got = await self.client.get(
                "/auth/token",
                params={"service": "dockyard", "scope": f"repository:{repository}:pull"},
                auth=auth,
            )
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"{self.endpoint.url} unreachable: {exc}") from None
        if got.status_code != 200:
            raise RemoteDenied(f"token refused: {got.status_code}", got.status_code)
        self._tokens[repository] = token = str(got.json()["token"])
        return token

    async def _send(
        self,
        method: str,
        repository: str,
        path: str,
        accept: tuple[str, ...] = (),
        stream: bool = False,
    ) -> httpx.Response:
        self.counter[f"{method} {path.split('/')[0]}"] += 1
        headers = {"Authorization": f"Bearer {await self._token(repository)}"}
        if accept:
            headers["Accept"] = ", ".join(accept)
        try:
            request = self.client.build_request(method, f"/v2/{repository}/{path}", headers=headers)
            response = await self.client.send(request, stream=stream, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"{self.endpoint.url} unreachable: {exc}") from None
        if response.status_code == 404:
            await response.aclose()
            raise RemoteNotFound(f"{repository}/{path} not found", 404)
        if response.status_code == 429:
            await response.aclose()
            raise RemoteRateLimited("429", float(response.headers.get("retry-after", "1")))
        if response.status_code >= 500:
            await response.aclose()
            raise RemoteUnavailable(f"upstream answered {response.status_code}", 503)
        if response.status_code >= 400:
            await response.aclose()
            raise RemoteError(f"upstream answered {response.status_code}", response.status_code)
        return response

    async def ping(self) -> Health:
        return Health(True, 200, "ok", 0.0)

    async def head_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Descriptor | None:
        try:
            got = await self._send("HEAD", repository, f"manifests/{reference}", accept)
        except RemoteNotFound:
            return None
        return Descriptor(
            got.headers["docker-content-digest"],
            got.headers.get("content-type", ""),
            int(got.headers.get("content-length", "0")),
        )

    async def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Manifest:
        got = await self._send("GET", repository, f"manifests/{reference}", accept)
        digest = f"sha256:{hashlib.sha256(got.content).hexdigest()}"
        return Manifest(digest, got.headers.get("content-type", ""), got.content)

    async def head_blob(self, repository: str, digest: str) -> int | None:
        try:
            got = await self._send("HEAD", repository, f"blobs/{digest}")
        except RemoteNotFound:
            return None
        return int(got.headers["content-length"])

    @contextlib.asynccontextmanager
    async def get_blob(self, repository: str, digest: str) -> AsyncIterator[MiniStream]:
        got = await self._send("GET", repository, f"blobs/{digest}", stream=True)
        try:
            size = got.headers.get("content-length")
            yield MiniStream(int(size) if size else None, got, self.counter)
        finally:
            await got.aclose()

    async def tags(self, repository: str) -> list[str]:
        got = await self._send("GET", repository, "tags/list")
        return list(got.json().get("tags") or [])

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        got = await self._send("GET", repository, f"referrers/{digest}")
        return [
            Referrer(m["digest"], m["mediaType"], m["size"], m.get("artifactType"))
            for m in got.json().get("manifests", [])
        ]

    async def put_manifest(
        self, repository: str, reference: str, media_type: str, content: bytes
    ) -> str:
        raise NotImplementedError

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        raise NotImplementedError

    async def delete_tag(self, repository: str, tag: str) -> bool:
        raise NotImplementedError

    async def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        raise NotImplementedError

    async def push_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        raise NotImplementedError

    async def repositories(self, namespace: str | None = None) -> list[str]:
        raise NotImplementedError

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class MiniEndpoints:
    def __init__(self, *remotes: MiniRemote) -> None:
        self.remotes = {r.endpoint.name: r for r in remotes}

    async def get(self, name: str) -> Endpoint:
        from dockyard.errors import NotFound

        if name not in self.remotes:
            raise NotFound(f"no endpoint {name}")
        return self.remotes[name].endpoint

    async def list(self) -> list[Endpoint]:
        return [r.endpoint for r in self.remotes.values()]

    def remote(self, endpoint: Endpoint) -> MiniRemote:
        return self.remotes[endpoint.name]
