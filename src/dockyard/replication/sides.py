"""The two ends of a copy, behind one interface: this registry (`LocalSide`, through
its domain services: validation, quotas, tag policies and events all apply) and a
stored endpoint (`RemoteSide`, through the `Remote` client of capability
"registries"). A push policy copies Local → Remote, a pull policy Remote → Local, with
the same code (copy.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.errors import BlobBusy, BlobUnknown, ManifestUnknown, NameUnknown
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import is_digest
from dockyard.oci.manifest import ParsedManifest, parse_manifest
from dockyard.registry.uploads import Chunk
from dockyard.remote import Remote, RemoteNotFound

if TYPE_CHECKING:
    from dockyard.context import Services

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Found:
    """A manifest as read from a side."""

    digest: str
    media_type: str
    content: bytes


class Side(Protocol):
    name: str
    """`local` or the endpoint's name (for messages)"""
    mounts_anywhere: bool

    def repositories(self) -> AsyncIterator[str]: ...

    async def tags(self, repository: str) -> list[str]:
        """Every tag; [] when the repository does not exist."""
        ...

    async def head(self, repository: str, reference: str) -> str | None:
        """The digest `reference` names, or None."""
        ...

    async def get(self, repository: str, reference: str) -> Found:
        """Raises LookupError when absent."""
        ...

    async def put(self, repository: str, reference: str, found: Found) -> None: ...

    async def has_blob(self, repository: str, digest: str) -> bool: ...

    async def mount(self, repository: str, digest: str, source: str) -> bool:
        """Link a blob the side holds in `source` into `repository`; False when it could not."""
        ...

    def read_blob(self, repository: str, digest: str) -> Any:
        """`async with side.read_blob(r, d) as (size, chunks)`."""
        ...

    async def write_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None: ...

    async def referrers(self, repository: str, digest: str) -> list[str]:
        """Digests of the manifests whose subject is `digest`."""
        ...

    async def delete(self, repository: str, reference: str) -> bool:
        """A tag (untagging) or a manifest by digest; False when it was absent."""
        ...


class LocalSide:
    name = "local"
    mounts_anywhere = True
    """each blob is kept once here: a blob held anywhere links into any repository"""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def repositories(self) -> AsyncIterator[str]:
        last: str | None = None
        while True:
            page = await self._services.store.list_repositories(PAGE, last)
            for name in page:
                yield name
            if len(page) < PAGE:
                return
            last = page[-1]

    async def tags(self, repository: str) -> list[str]:
        return await self._services.store.list_tags(repository, None, None) or []

    async def head(self, repository: str, reference: str) -> str | None:
        record = await self._services.store.get_manifest(repository, reference)
        return None if record is None else record.digest

    async def get(self, repository: str, reference: str) -> Found:
        record = await self._services.store.get_manifest(repository, reference)
        if record is None:
            raise LookupError(f"{repository}:{reference} is not in this registry")
        return Found(record.digest, record.media_type, record.content)

    async def put(self, repository: str, reference: str, found: Found) -> None:
        await self._services.manifests.put(
            repository, reference, found.media_type, found.content, "replication"
        )

    async def has_blob(self, repository: str, digest: str) -> bool:
        return await self._services.store.get_blob(repository, digest) is not None

    async def mount(self, repository: str, digest: str, source: str) -> bool:
        # this registry keeps each blob once: linking it from wherever it is held is
        # a mount from any repository (replication runs as the system)
        blob = await self._services.store.get_blob(None, digest)
        if blob is None:
            return False
        try:
            await self._services.store.link_blob(repository, blob.digest, blob.size)
        except BlobBusy:  # GC is deleting it: upload it instead
            return False
        return True

    @asynccontextmanager
    async def read_blob(
        self, repository: str, digest: str
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        blob = await self._services.store.get_blob(repository, digest)
        if blob is None:
            raise LookupError(f"blob {digest} is not in {repository}")
        yield int(blob.size), self._services.blobs.stream(digest)

    async def write_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        await self._services.uploads.monolithic(repository, digest, aiter(body), Chunk(length=size))

    async def referrers(self, repository: str, digest: str) -> list[str]:
        return [r.digest for r in await self._services.store.referrers(repository, digest, None)]

    async def delete(self, repository: str, reference: str) -> bool:
        try:
            await self._services.manifests.delete(repository, reference, "replication")
        except (ManifestUnknown, NameUnknown, BlobUnknown):
            return False
        return True


class RemoteSide:
    mounts_anywhere = False

    def __init__(self, remote: Remote, *, harbor_namespaces: tuple[str, ...] = ()) -> None:
        self._remote = remote
        self.name = remote.endpoint.name
        self._namespaces = harbor_namespaces

    async def repositories(self) -> AsyncIterator[str]:
        if self._namespaces:
            for namespace in self._namespaces:
                for name in await self._remote.repositories(namespace):
                    yield name
            return
        for name in await self._remote.repositories(None):
            yield name

    async def tags(self, repository: str) -> list[str]:
        try:
            return await self._remote.tags(repository)
        except RemoteNotFound:
            return []

    async def head(self, repository: str, reference: str) -> str | None:
        found = await self._remote.head_manifest(repository, reference)
        if found is None:
            return None
        if not found.digest:  # no Docker-Content-Digest: read the manifest to know
            return (await self.get(repository, reference)).digest
        return found.digest

    async def get(self, repository: str, reference: str) -> Found:
        try:
            got = await self._remote.get_manifest(repository, reference)
        except RemoteNotFound:
            raise LookupError(f"{repository}:{reference} is not on {self.name}") from None
        return Found(got.digest, got.media_type, got.content)

    async def put(self, repository: str, reference: str, found: Found) -> None:
        await self._remote.put_manifest(repository, reference, found.media_type, found.content)
        parsed = parse_manifest(found.content, found.media_type)
        if parsed.subject is not None:
            await self._fallback_tag(repository, found, parsed)

    async def _fallback_tag(self, repository: str, found: Found, parsed: ParsedManifest) -> None:
        """A remote without the referrers API (the Go registry) lists a subject's
        referrers in an index tagged `sha256-<hex>`, which the pusher keeps
        (distribution-spec 1.1, "pushing manifests with subject"): add this one."""
        assert parsed.subject is not None
        subject = parsed.subject.digest
        listed = await self._remote.referrers(repository, subject)
        if any(r.digest == found.digest for r in listed):
            return  # the remote indexed it itself (referrers API), or it is there already
        entry: dict[str, object] = {
            "mediaType": found.media_type,
            "digest": found.digest,
            "size": len(found.content),
        }
        if parsed.artifact_type:
            entry["artifactType"] = parsed.artifact_type
        if parsed.annotations:
            entry["annotations"] = parsed.annotations
        manifests: list[object] = [
            {
                "mediaType": r.media_type,
                "digest": r.digest,
                "size": r.size,
                **({"artifactType": r.artifact_type} if r.artifact_type else {}),
                **({"annotations": r.annotations} if r.annotations else {}),
            }
            for r in listed
        ]
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [*manifests, entry]}
        algorithm, _, hex_digest = subject.partition(":")
        await self._remote.put_manifest(
            repository, f"{algorithm}-{hex_digest}", mt.OCI_INDEX, json.dumps(index).encode()
        )

    async def has_blob(self, repository: str, digest: str) -> bool:
        return await self._remote.head_blob(repository, digest) is not None

    async def mount(self, repository: str, digest: str, source: str) -> bool:
        return await self._remote.mount_blob(repository, digest, source)

    @asynccontextmanager
    async def read_blob(
        self, repository: str, digest: str
    ) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
        try:
            async with self._remote.get_blob(repository, digest) as stream:
                yield stream.size, stream.chunks()
        except RemoteNotFound:
            raise LookupError(f"blob {digest} is not in {repository} on {self.name}") from None

    async def write_blob(
        self, repository: str, digest: str, size: int, body: AsyncIterable[bytes]
    ) -> None:
        await self._remote.push_blob(repository, digest, size, body)

    async def referrers(self, repository: str, digest: str) -> list[str]:
        return [r.digest for r in await self._remote.referrers(repository, digest)]

    async def delete(self, repository: str, reference: str) -> bool:
        if is_digest(reference):
            return await self._remote.delete_manifest(repository, reference)
        return await self._remote.delete_tag(repository, reference)
