"""Blob reads and deletes. Bytes go out by zero-copy path, redirect, or stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from dockyard.errors import BlobUnknown, Unsupported
from dockyard.metadata.records import BlobRecord, MetadataStore
from dockyard.oci.digest import parse_digest
from dockyard.registry.sources import PullSource, SourcedBlob, covering
from dockyard.storage import layout
from dockyard.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class BlobSource:
    blob: BlobRecord
    local_path: str | None = None
    redirect_url: str | None = None


class BlobService:
    def __init__(
        self, store: MetadataStore, storage: StorageDriver, *, delete_enabled: bool
    ) -> None:
        self._store = store
        self._storage = storage
        self._delete_enabled = delete_enabled
        self.sources: list[PullSource] = []  # services.py: ManifestService's list

    async def pull_through(self, repository: str, digest: str) -> SourcedBlob | None:
        """A blob `repository` lacks, from the pull source covering it (None when no
        source does: the caller raises its BlobUnknown)."""
        source = covering(self.sources, repository) if self.sources else None
        if source is None:
            return None
        return await source.blob(repository, digest)

    async def size_through(self, repository: str, digest: str) -> int | None:
        source = covering(self.sources, repository) if self.sources else None
        if source is None:
            return None
        return await source.blob_size(repository, digest)

    async def stat(self, repository: str, digest: str) -> BlobRecord:
        parse_digest(digest)
        blob = await self._store.get_blob(repository, digest)
        if blob is None:
            raise BlobUnknown(f"blob {digest} unknown in {repository}", detail={"digest": digest})
        return blob

    async def source(self, repository: str, digest: str, *, redirect: bool) -> BlobSource:
        blob = await self.stat(repository, digest)
        path = layout.blob_path(blob.digest)
        if redirect:
            url = await self._storage.redirect_url(path)
            if url is not None:
                return BlobSource(blob, redirect_url=url)
        return BlobSource(blob, local_path=self._storage.local_path(path))

    def stream(
        self, digest: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        return self._storage.reader(layout.blob_path(digest), offset, length)

    async def delete(self, repository: str, digest: str) -> None:
        if not self._delete_enabled:
            raise Unsupported("deletion is disabled on this registry")
        parse_digest(digest)
        if not await self._store.unlink_blob(repository, digest):
            raise BlobUnknown(f"blob {digest} unknown in {repository}", detail={"digest": digest})
