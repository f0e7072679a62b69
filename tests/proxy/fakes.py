"""An upstream registry in memory behind the `Remote` protocol, counting what it is
asked for (the proxy's tests count upstream requests here, at the upstream side of
the protocol, not with the proxy's own counters), and able to go down, rate-limit,
or lie about a blob's bytes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from dockyard.remote import (
    ALL_MANIFEST_TYPES,
    Descriptor,
    Endpoint,
    Health,
    Manifest,
    RateLimit,
    Referrer,
    RemoteNotFound,
    RemoteRateLimited,
    RemoteUnavailable,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 256 << 10


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Stream:
    size: int | None
    data: bytes
    remote: FakeRemote

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            if self.remote.down:
                raise RemoteUnavailable("connection reset mid-blob")
            await asyncio.sleep(self.remote.chunk_delay)
            yield self.data[start : start + CHUNK]


@dataclass
class FakeRemote:
    endpoint: Endpoint
    rate_limit: RateLimit = field(default_factory=RateLimit)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    lies: dict[str, bytes] = field(default_factory=dict)
    """digest → other bytes sent in its place"""
    calls: Counter[str] = field(default_factory=Counter)
    blob_gets: Counter[str] = field(default_factory=Counter)
    down: bool = False
    retry_after: float | None = None
    chunk_delay: float = 0.0

    def _gate(self, what: str) -> None:
        self.calls[what] += 1
        if self.down:
            raise RemoteUnavailable(f"{self.endpoint.url} refused the connection")
        if self.retry_after is not None:
            raise RemoteRateLimited("429 too many requests", retry_after=self.retry_after)

    def image(self, repository: str, tag: str, layers: list[bytes]) -> str:
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": len(layers)}).encode()
        self.blobs[digest_of(config)] = config
        descs = []
        for layer in layers:
            self.blobs[digest_of(layer)] = layer
            descs.append({"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": descs,
            }
        ).encode()
        digest = digest_of(manifest)
        self.manifests[(repository, digest)] = (OCI_MANIFEST, manifest)
        self.manifests[(repository, tag)] = (OCI_MANIFEST, manifest)
        return digest

    async def ping(self) -> Health:
        return Health(not self.down, 200, "ok", 0.1)

    async def head_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Descriptor | None:
        self._gate("head_manifest")
        found = self.manifests.get((repository, reference))
        if found is None:
            return None
        return Descriptor(digest_of(found[1]), found[0], len(found[1]))

    async def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Manifest:
        self._gate("get_manifest")
        found = self.manifests.get((repository, reference))
        if found is None:
            raise RemoteNotFound(f"{repository}:{reference} not found", 404, "MANIFEST_UNKNOWN")
        return Manifest(digest_of(found[1]), found[0], found[1])

    async def put_manifest(
        self, repository: str, reference: str, media_type: str, content: bytes
    ) -> str:
        raise NotImplementedError

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        raise NotImplementedError

    async def delete_tag(self, repository: str, tag: str) -> bool:
        raise NotImplementedError

    async def head_blob(self, repository: str, digest: str) -> int | None:
        self._gate("head_blob")
        found = self.blobs.get(digest)
        return None if found is None else len(found)

    @contextlib.asynccontextmanager
    async def get_blob(self, repository: str, digest: str) -> AsyncIterator[Stream]:
        self._gate("get_blob")
        self.blob_gets[digest] += 1
        data = self.lies.get(digest, self.blobs.get(digest))
        if data is None:
            raise RemoteNotFound(f"blob {digest} not found", 404, "BLOB_UNKNOWN")
        yield Stream(len(data), data, self)

    async def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        raise NotImplementedError

    async def push_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        raise NotImplementedError

    async def tags(self, repository: str) -> list[str]:
        self._gate("tags")
        return sorted(r for (repo, r) in self.manifests if repo == repository and ":" not in r)

    async def repositories(self, namespace: str | None = None) -> list[str]:
        return sorted({repo for repo, _ in self.manifests})

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        self._gate("referrers")
        return []

    async def close(self) -> None:
        return None


class FakeEndpoints:
    def __init__(self, *remotes: FakeRemote) -> None:
        self.remotes = {r.endpoint.name: r for r in remotes}

    async def get(self, name: str) -> Endpoint:
        from dockyard.errors import NotFound

        if name not in self.remotes:
            raise NotFound(f"no endpoint {name}")
        return self.remotes[name].endpoint

    async def list(self) -> list[Endpoint]:
        return [r.endpoint for r in self.remotes.values()]

    def remote(self, endpoint: Endpoint) -> FakeRemote:
        return self.remotes[endpoint.name]
