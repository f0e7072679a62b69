"""Remote registries: the stored endpoints (URL, encrypted credentials, TLS options)
and a client of the OCI distribution API that replication and the proxy cache both
use to talk to another registry (another Dockyard, the Go registry, zot, Harbor,
Quay, Docker Hub with its token service and `library/` naming, GHCR, …).

This module is the interface; `client.py` implements `Remote` over httpx,
`store.py` / `service.py` keep the endpoints (capability "registries").
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

KINDS = ("distribution", "dockyard", "harbor", "dockerhub", "quay", "ghcr", "zot")
"""What an endpoint is: each speaks the distribution API; the kind adds naming rules
(Docker Hub's `library/`) and listing (Harbor's project API)."""

ALL_MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.artifact.manifest.v1+json",
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A stored remote registry, its secret already decrypted (never logged or
    rendered: `public()` is what the API shows)."""

    name: str
    url: str
    """scheme://host[:port], no path"""
    kind: str = "distribution"
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    insecure: bool = False
    """skip TLS verification (a test registry with a self-signed certificate)"""
    ca_certificate: str | None = None
    """PEM bundle trusted for this endpoint, beside the system's"""
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    """changes whenever the stored endpoint does (clients are cached per it)"""

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "kind": self.kind,
            "username": self.username,
            "has_secret": self.secret is not None,
            "insecure": self.insecure,
            "ca_certificate": self.ca_certificate,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Descriptor:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    """the digest of `content` (checked against Docker-Content-Digest when sent)"""
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What the upstream said of its rate limit (`ratelimit-limit`/`-remaining`, Docker
    Hub's form `100;w=21600`), and when to try again after a 429 (`Retry-After`)."""

    limit: int | None = None
    remaining: int | None = None
    retry_after: float | None = None
    """seconds, from the last 429's Retry-After"""


@dataclass(frozen=True, slots=True)
class Health:
    reachable: bool
    status: int | None
    """GET /v2/ status with the endpoint's credentials (200 good; 401 bad credentials)"""
    message: str
    latency_ms: float


class RemoteError(Exception):
    """The remote answered with an error, or could not be reached. `status` is the HTTP
    status (None when unreachable), `code` the first OCI error code in the body."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RemoteUnavailable(RemoteError):
    """Connection refused, timeout, TLS failure, or a 5xx: try again later."""


class RemoteRateLimited(RemoteError):
    """429: `retry_after` seconds, when the remote said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, 429, "TOOMANYREQUESTS")
        self.retry_after = retry_after


class RemoteNotFound(RemoteError):
    """404 (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN)."""


class RemoteDenied(RemoteError):
    """401/403 after authenticating: the endpoint's credentials may not do this."""


class BlobStream(Protocol):
    size: int | None
    """Content-Length, when the remote sent it"""

    def chunks(self) -> AsyncIterator[bytes]:
        """The body, as it arrives (not verified: the caller hashes it)."""
        ...


class Remote(Protocol):
    """A client of one endpoint. Repository names are the remote's own (for Docker Hub
    a one-component name is sent as `library/<name>`). Every call raises a
    `RemoteError` subclass on failure, never httpx's exceptions."""

    endpoint: Endpoint
    rate_limit: RateLimit
    """as of the last answer"""

    async def ping(self) -> Health: ...

    async def head_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Descriptor | None:
        """None when the remote has no such manifest (404)."""
        ...

    async def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Manifest:
        """Raises RemoteNotFound when absent; the digest is checked against the bytes
        (a by-digest reference must match them)."""
        ...

    async def put_manifest(
        self, repository: str, reference: str, media_type: str, content: bytes
    ) -> str:
        """The digest the remote answered."""
        ...

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        """False when it was already absent."""
        ...

    async def delete_tag(self, repository: str, tag: str) -> bool:
        """DELETE /v2/<name>/manifests/<tag> (distribution-spec 1.1); False when absent
        or the remote does not support deleting tags."""
        ...

    async def head_blob(self, repository: str, digest: str) -> int | None:
        """The blob's size, or None when the remote lacks it."""
        ...

    def get_blob(self, repository: str, digest: str) -> AbstractAsyncContextManager[BlobStream]:
        """`async with remote.get_blob(repo, digest) as blob: async for c in blob.chunks()`;
        follows redirects (presigned storage URLs) without sending credentials there."""
        ...

    async def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """POST ?mount=&from=: True when the remote mounted it (201), False when it
        opened an upload instead (that upload is cancelled)."""
        ...

    async def push_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        """POST then a streamed PUT (or PATCH chunks then PUT, for remotes that refuse
        a monolithic body); never buffers the whole blob."""
        ...

    async def tags(self, repository: str) -> list[str]:
        """Every tag, following `Link` pages."""
        ...

    async def repositories(self, namespace: str | None = None) -> list[str]:
        """Every repository (under `namespace/` when given): the catalog API, or for a
        Harbor endpoint its project API (Harbor's catalog needs a system admin)."""
        ...

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        """The referrers API, or the `sha256-<hex>` tag schema where it is missing
        (distribution-spec 1.1 fallback). Cosign's `sha256-<hex>.sig/.att/.sbom` tags
        are not referrers: callers copy those tags by name."""
        ...

    async def close(self) -> None: ...


class Endpoints(Protocol):
    """The stored endpoints, as replication and the proxy cache read them
    (`dockyard.remote.service.endpoints(services)` gives the one of a Services)."""

    async def get(self, name: str) -> Endpoint:
        """Raises dockyard.errors.NotFound-style domain error when there is none."""
        ...

    async def list(self) -> list[Endpoint]: ...

    def remote(self, endpoint: Endpoint) -> Remote:
        """A client for `endpoint`, shared while the endpoint is unchanged (its token
        cache and connection pool with it)."""
        ...


def open_remote(endpoint: Endpoint, *, timeout: float = 30.0) -> Remote:
    """A client of `endpoint` (the caller closes it)."""
    from dockyard.remote.client import HttpRemote

    return HttpRemote(endpoint, timeout=timeout)
