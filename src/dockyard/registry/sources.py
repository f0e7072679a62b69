"""Pull sources: where content a repository lacks locally comes from (the proxy cache,
capability "proxy"). The core asks them only for repositories they cover, and only
after the gate authorized the request for pull on that repository.

Zero cost without one: ManifestService.sources / BlobService.sources are empty lists
and every core call site checks that first (one attribute check on the hot path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from dockyard.metadata.records import ManifestRecord


@dataclass(frozen=True, slots=True)
class SourcedBlob:
    """A blob a source is fetching or fetched: its size (when known) and its bytes.
    The stream raises (aborting the client's connection) if the bytes do not hash to
    the digest; nothing is stored then."""

    digest: str
    size: int | None
    chunks: AsyncIterator[bytes]


class PullSource(Protocol):
    def covers(self, repository: str) -> bool:
        """Synchronous, from memory: does this source serve `repository`?"""
        ...

    def mirror_name(self, host: str, name: str) -> str | None:
        """The local repository a containerd mirror request (`?ns=<host>`) for `name`
        maps to, or None when this source mirrors no such host."""
        ...

    async def manifest(
        self, repository: str, reference: str, local: ManifestRecord | None
    ) -> tuple[ManifestRecord, str | None]:
        """The manifest to serve and an optional warning (serve-stale); raises the
        OCI error the client should see when there is none."""
        ...

    async def blob(self, repository: str, digest: str) -> SourcedBlob:
        """A blob `repository` lacks locally (raises BlobUnknown / Unavailable / …)."""
        ...

    async def blob_size(self, repository: str, digest: str) -> int:
        """HEAD of a blob `repository` lacks locally."""
        ...

    async def tags(self, repository: str) -> list[str] | None:
        """The tags to list (upstream's), or None to list the local ones."""
        ...


def covering(sources: Sequence[PullSource], repository: str) -> PullSource | None:
    for source in sources:
        if source.covers(repository):
            return source
    return None


def mirror_name(sources: Sequence[PullSource], host: str, name: str) -> str | None:
    for source in sources:
        found = source.mirror_name(host, name)
        if found is not None:
            return found
    return None
