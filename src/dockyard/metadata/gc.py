"""What garbage collection and fsck ask of the metadata store (metadata/sql_gc.py on
SQLite and PostgreSQL): the reference queries, and the guarded deletes that keep
GC safe while pushes go on (the fence: metadata/sql_writes.py, docs/gc.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ManifestRef:
    id: int
    repository_id: int
    repository: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class LinkRef:
    repository_id: int
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class BlobRow:
    digest: str
    size: int
    touched_at: dt.datetime
    deleting: bool
    linked: bool


@dataclass(frozen=True, slots=True)
class DanglingRef:
    """A manifest reference to a blob the repository has no link to, or no row for."""

    repository: str
    manifest: str
    digest: str
    problem: str  # "no blob row", "not linked", "blob being deleted"


@dataclass(frozen=True, slots=True)
class GcRun:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    state: str
    dry_run: bool
    trigger: str
    options: Mapping[str, Any]
    report: Mapping[str, Any] | None
    error: str | None


class GcStore(Protocol):
    # -- mark -------------------------------------------------------------------------
    async def dead_manifests(self, cutoff: dt.datetime) -> list[ManifestRef]:
        """Manifests no tag reaches (directly, through an index, or as a referrer of a
        live subject) and created before `cutoff`."""
        ...

    async def unreferenced_links(
        self, cutoff: dt.datetime, after: tuple[int, str] | None, limit: int
    ) -> list[LinkRef]:
        """Links no manifest of their repository references, untouched since `cutoff`,
        in (repository id, digest) order after `after`."""
        ...

    async def links_only_of(
        self, manifest_ids: Sequence[int], cutoff: dt.datetime
    ) -> list[LinkRef]:
        """Links untouched since `cutoff` whose only referencing manifests are among
        `manifest_ids` (what a dry run says would go with them)."""
        ...

    async def unlinked_blobs(
        self, cutoff: dt.datetime, after: str | None, limit: int
    ) -> list[LinkRef]:
        """Blobs no repository links, untouched since `cutoff`, not claimed, by digest."""
        ...

    async def blobs_only_in(self, links: Sequence[LinkRef]) -> list[LinkRef]:
        """Blobs every link of which is among `links` (a dry run)."""
        ...

    # -- sweep (each call one short transaction that checks again, under locks) ---
    async def delete_manifests(
        self, manifests: Sequence[ManifestRef], cutoff: dt.datetime
    ) -> list[ManifestRef]:
        """Delete those still untagged and unreferenced (quota released, events written)."""
        ...

    async def drop_links(self, links: Sequence[LinkRef], cutoff: dt.datetime) -> list[LinkRef]:
        """Drop those still unreferenced and untouched since `cutoff` (quota released)."""
        ...

    async def claim_blobs(self, digests: Sequence[str], cutoff: dt.datetime) -> list[LinkRef]:
        """Mark `deleting` the blobs still unlinked and untouched since `cutoff`: from
        the commit on no write links them. Returns those claimed."""
        ...

    async def claimed_blobs(self) -> list[LinkRef]:
        """Blobs claimed by a pass that did not finish (a crash): to finish first."""
        ...

    async def forget_blobs(self, digests: Sequence[str]) -> int:
        """Delete the rows of claimed blobs whose bytes are gone."""
        ...

    async def claim_orphan(self, digest: str, size: int) -> bool:
        """fsck: claim bytes that have no row (insert a claimed row); False if a row
        appeared meanwhile (a push is linking it)."""
        ...

    # -- fsck -----------------------------------------------------------------------
    def blob_rows(self) -> AsyncIterator[BlobRow]:
        """Every blob row, by digest."""
        ...

    async def dangling_references(self) -> list[DanglingRef]: ...

    async def blob_state(self, digest: str) -> BlobRow | None: ...

    async def forget_unlinked_blob(self, digest: str) -> bool:
        """fsck --repair: delete the row of a blob nothing links or references."""
        ...

    # -- runs -----------------------------------------------------------------------
    async def start_run(self, trigger: str, dry_run: bool, options: Mapping[str, Any]) -> int: ...

    async def update_run(
        self,
        run_id: int,
        report: Mapping[str, Any],
        *,
        state: str | None = None,
        error: str | None = None,
    ) -> None: ...

    async def runs(self, limit: int) -> list[GcRun]: ...
