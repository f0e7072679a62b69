"""One garbage-collection pass: mark from the metadata references, sweep in batches.

    0. finish what a pass that died left claimed (its bytes, then its rows)
    1. with delete_untagged: manifests no tag reaches (through indexes and referrers'
       subjects), created before the cutoff
    2. links (repository_blobs) no manifest of their repository references, untouched
       since the cutoff: dropped, the project's quota released
    3. blobs no repository links, untouched since the cutoff: claimed (`deleting`),
       their bytes deleted with the driver's delete_many (S3: DeleteObjects, 1,000
       keys a call, several at once), then their rows
    4. stale upload sessions (registry/janitor.py, the same purge the server runs)

The cutoff is the pass's start minus the grace period. Nothing is held in memory
beyond a page of candidates (the manifest graph, for step 1, is one row per
manifest). Each batch is one short transaction that checks its condition again
under locks (metadata/sql_gc.py), so pushes and pulls go on throughout; why that is
safe is written down in docs/gc.md. A pass killed at any point leaves a state the
next pass finishes: rows are claimed before their bytes go and forgotten after.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metadata.gc import GcStore, LinkRef
from dockyard.metadata.records import MetadataStore
from dockyard.registry.janitor import purge_stale_uploads
from dockyard.storage import layout
from dockyard.storage.base import DeleteFailed, StorageDriver

log = logging.getLogger(__name__)

MANIFEST_BATCH = 200
LINK_BATCH = 1000
BLOB_BATCH = 4000  # four DeleteObjects calls of 1,000 keys, in parallel
SAMPLES = 20  # digests a report lists per kind


@dataclass(frozen=True, slots=True)
class GcOptions:
    grace: dt.timedelta = dt.timedelta(hours=24)
    delete_untagged: bool = False
    dry_run: bool = False
    upload_max_age: dt.timedelta = dt.timedelta(hours=24)


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    delete_untagged: bool
    started_at: str
    finished_at: str | None = None
    manifests: int = 0
    links: int = 0
    blobs: int = 0
    bytes_freed: int = 0
    uploads: int = 0
    resumed_blobs: int = 0
    """blobs a pass that died had claimed, finished by this one"""
    failed_deletes: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)
    """a few of what went (or would go), per kind"""
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """seconds spent in each phase"""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sample(self, kind: str, items: list[str]) -> None:
        held = self.samples.setdefault(kind, [])
        held.extend(items[: max(0, SAMPLES - len(held))])

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (
            f"{verb} {self.bytes_freed} bytes: {self.blobs} blobs, {self.links} links, "
            f"{self.manifests} manifests, {self.uploads} uploads"
            + (
                f" ({self.resumed_blobs} blobs of an interrupted pass)"
                if self.resumed_blobs
                else ""
            )
        )


Progress = Callable[[str, int], None]
"""(phase, how many so far in that phase)"""
Checkpoint = Callable[[], Awaitable[None]]


def _quiet(phase: str, done: int) -> None:
    return None


async def _nothing() -> None:
    return None


class Collector:
    def __init__(
        self,
        gc: GcStore,
        store: MetadataStore,
        storage: StorageDriver,
        *,
        invalidate: Callable[[str], Awaitable[None]] | None = None,
        progress: Progress = _quiet,
        checkpoint: Checkpoint = _nothing,
    ) -> None:
        """`invalidate(repository)` drops a repository's cached manifests and tags."""
        self._invalidate = invalidate
        self._gc = gc
        self._store = store
        self._storage = storage
        self._progress = progress
        self._checkpoint = checkpoint

    async def run(self, options: GcOptions) -> GcReport:
        started = dt.datetime.now(dt.UTC)
        cutoff = started - options.grace
        report = GcReport(
            options.dry_run,
            options.grace.total_seconds(),
            options.delete_untagged,
            started.isoformat(),
        )
        clock = time.perf_counter()

        def lap(phase: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            report.phases[phase] = round(now - clock, 3)
            clock = now

        if not options.dry_run:
            await self._resume(report)
            lap("resume")
        doomed: list[int] = []
        if options.delete_untagged:
            doomed = await self._manifests(report, cutoff, options.dry_run)
            lap("manifests")
        going = await self._links(report, cutoff, options.dry_run, doomed)
        lap("links")
        await self._blobs(report, cutoff, options.dry_run, going)
        lap("blobs")
        self._progress("uploads", 0)
        report.uploads = await purge_stale_uploads(
            self._store, self._storage, options.upload_max_age, dry_run=options.dry_run
        )
        self._progress("uploads", report.uploads)
        lap("uploads")
        finished = dt.datetime.now(dt.UTC)
        report.finished_at = finished.isoformat()
        report.seconds = round((finished - started).total_seconds(), 3)
        return report

    # -- the phases ---------------------------------------------------------------

    async def _resume(self, report: GcReport) -> None:
        claimed = await self._gc.claimed_blobs()
        if not claimed:
            return
        log.info("finishing %d blobs an interrupted GC pass had claimed", len(claimed))
        for i in range(0, len(claimed), BLOB_BATCH):
            batch = claimed[i : i + BLOB_BATCH]
            gone = await self._delete_bytes(report, batch)
            report.resumed_blobs += len(gone)
            report.blobs += len(gone)
            report.bytes_freed += sum(b.size for b in gone)
            await self._checkpoint()

    async def _manifests(self, report: GcReport, cutoff: dt.datetime, dry_run: bool) -> list[int]:
        self._progress("manifests", 0)
        dead = await self._gc.dead_manifests(cutoff)
        if dry_run:
            report.manifests = len(dead)
            report.sample("manifests", [f"{d.repository}@{d.digest}" for d in dead])
            self._progress("manifests", len(dead))
            return [d.id for d in dead]
        while dead:  # another round takes what an index still held in the round before
            left = []
            for i in range(0, len(dead), MANIFEST_BATCH):
                batch = dead[i : i + MANIFEST_BATCH]
                gone = await self._gc.delete_manifests(batch, cutoff)
                if self._invalidate is not None:
                    for repository in sorted({d.repository for d in gone}):
                        await self._invalidate(repository)
                report.manifests += len(gone)
                report.sample("manifests", [f"{d.repository}@{d.digest}" for d in gone])
                ids = {d.id for d in gone}
                left += [d for d in batch if d.id not in ids]
                self._progress("manifests", report.manifests)
                await self._checkpoint()
            if len(left) == len(dead):
                break
            dead = left
        return []

    async def _links(
        self, report: GcReport, cutoff: dt.datetime, dry_run: bool, doomed: list[int]
    ) -> list[LinkRef]:
        """Drop unreferenced links; in a dry run, return those that would go (with the
        links of manifests that would go), for the blob phase to count from."""
        self._progress("links", 0)
        going: list[LinkRef] = []
        after: tuple[int, str] | None = None
        while True:
            page = await self._gc.unreferenced_links(cutoff, after, LINK_BATCH)
            if not page:
                break
            after = (page[-1].repository_id, page[-1].digest)
            if dry_run:
                going += page
                report.links += len(page)
            else:
                dropped = await self._gc.drop_links(page, cutoff)
                report.links += len(dropped)
                report.sample("links", [f"{d.repository_id}:{d.digest}" for d in dropped])
                await self._checkpoint()
            self._progress("links", report.links)
        if dry_run and doomed:
            seen = {(g.repository_id, g.digest) for g in going}
            extra = [
                link
                for link in await self._gc.links_only_of(doomed, cutoff)
                if (link.repository_id, link.digest) not in seen
            ]
            going += extra
            report.links += len(extra)
        if dry_run:
            report.sample("links", [f"{g.repository_id}:{g.digest}" for g in going])
        return going

    async def _blobs(
        self, report: GcReport, cutoff: dt.datetime, dry_run: bool, going: list[LinkRef]
    ) -> None:
        self._progress("blobs", 0)
        after: str | None = None
        counted: set[str] = set()
        while True:
            page = await self._gc.unlinked_blobs(cutoff, after, BLOB_BATCH)
            if not page:
                break
            after = page[-1].digest
            if dry_run:
                counted.update(b.digest for b in page)
                report.blobs += len(page)
                report.bytes_freed += sum(b.size for b in page)
                report.sample("blobs", [b.digest for b in page])
            else:
                claimed = await self._gc.claim_blobs([b.digest for b in page], cutoff)
                gone = await self._delete_bytes(report, claimed)
                report.blobs += len(gone)
                report.bytes_freed += sum(b.size for b in gone)
                report.sample("blobs", [b.digest for b in gone])
                await self._checkpoint()
            self._progress("blobs", report.blobs)
        if dry_run and going:
            extra = [b for b in await self._gc.blobs_only_in(going) if b.digest not in counted]
            report.blobs += len(extra)
            report.bytes_freed += sum(b.size for b in extra)
            report.sample("blobs", [b.digest for b in extra])
            self._progress("blobs", report.blobs)

    async def _delete_bytes(self, report: GcReport, claimed: list[LinkRef]) -> list[LinkRef]:
        """Delete the bytes of claimed blobs, then the rows of those whose bytes went; a
        key the storage would not delete stays claimed for the next pass."""
        if not claimed:
            return []
        keys = {layout.blob_path(b.digest): b for b in claimed}
        failed: set[str] = set()
        try:
            await self._storage.delete_many(list(keys))
        except DeleteFailed as exc:
            failed = set(exc.paths)
            report.failed_deletes += len(failed)
            log.warning("GC: %s; they stay claimed for the next pass", exc)
        gone = [b for key, b in keys.items() if key not in failed]
        await self._gc.forget_blobs([b.digest for b in gone])
        return gone
