"""fsck: every metadata reference against storage.

Damage (what breaks a pull or lies about content; fsck exits non-zero):
  - a manifest references a blob with no row, not linked in its repository, or claimed
  - a blob row whose bytes are missing while something links it
  - bytes whose size is not the row's, or (with verify_digests) whose digest is not
    their name
Garbage (harmless; GC or --repair removes it):
  - bytes without a row (a crash between the bytes and the row, a refused push)
  - a row without bytes that nothing links (a crash between GC's steps)
  - rows an interrupted GC pass claimed

--repair fixes what is safe: it deletes orphan bytes older than the grace period
(claimed first, with GC's protocol, so a push of the same digest cannot lose its
bytes), forgets unlinked rows without bytes, finishes claimed blobs, and deletes
corrupt bytes nothing references. What it cannot fix safely it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metadata.gc import BlobRow, GcStore
from dockyard.oci.digest import parse_digest
from dockyard.storage import layout
from dockyard.storage.base import DeleteFailed, PathNotFound, StorageDriver
from dockyard.storage.transfer import held

STAT_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    digest: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.digest}: {self.detail}"


@dataclass
class FsckReport:
    blobs: int = 0
    references: int = 0
    storage_keys: int = 0
    verified: int = 0
    damage: list[Finding] = field(default_factory=list)
    garbage: list[Finding] = field(default_factory=list)
    repaired: list[Finding] = field(default_factory=list)
    unrepaired: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.damage

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["clean"] = self.clean
        return out


Progress = Callable[[str, int], None]


def _quiet(phase: str, done: int) -> None:
    return None


class Checker:
    def __init__(self, gc: GcStore, storage: StorageDriver, *, progress: Progress = _quiet) -> None:
        self._gc = gc
        self._storage = storage
        self._progress = progress

    async def run(self, *, verify_digests: bool, repair: bool, grace: dt.timedelta) -> FsckReport:
        report = FsckReport()
        present = await self._storage_digests()
        report.storage_keys = len(present)
        rows: dict[str, BlobRow] = {}
        async for row in self._gc.blob_rows():
            rows[row.digest] = row
        report.blobs = len(rows)
        self._progress("blob rows", len(rows))
        await self._references(report)
        await self._rows(report, rows, present, verify_digests, repair)
        await self._orphans(report, rows, present, repair, grace)
        return report

    async def _storage_digests(self) -> set[str]:
        """Every digest with bytes under blobs/<algorithm>/<xx>/<encoded>."""
        return await held(self._storage, lambda n: self._progress("storage keys", n))

    async def _references(self, report: FsckReport) -> None:
        for ref in await self._gc.dangling_references():
            report.references += 1
            report.damage.append(
                Finding(
                    "dangling-reference",
                    ref.digest,
                    f"manifest {ref.repository}@{ref.manifest} references it: {ref.problem}",
                )
            )

    async def _rows(
        self,
        report: FsckReport,
        rows: dict[str, BlobRow],
        present: set[str],
        verify: bool,
        repair: bool,
    ) -> None:
        sem = asyncio.Semaphore(STAT_CONCURRENCY)
        claimed: list[BlobRow] = []
        done = 0

        async def check(row: BlobRow) -> None:
            nonlocal done
            async with sem:
                await self._row(report, row, row.digest in present, verify, repair, claimed)
            done += 1
            if done % 500 == 0:
                self._progress("blobs checked", done)

        await asyncio.gather(*(check(r) for r in rows.values()))
        self._progress("blobs checked", done)
        if repair and claimed:  # finish what an interrupted GC pass claimed
            keys = [layout.blob_path(r.digest) for r in claimed]
            failed: set[str] = set()
            try:
                await self._storage.delete_many(keys)
            except DeleteFailed as exc:
                failed = set(exc.paths)
            gone = [r.digest for r, k in zip(claimed, keys, strict=True) if k not in failed]
            await self._gc.forget_blobs(gone)
            for r in claimed:
                target = report.unrepaired if r.digest not in gone else report.repaired
                target.append(Finding("claimed", r.digest, "deleted, as its GC pass would have"))

    async def _row(
        self,
        report: FsckReport,
        row: BlobRow,
        has_bytes: bool,
        verify: bool,
        repair: bool,
        claimed: list[BlobRow],
    ) -> None:
        if row.deleting:
            report.garbage.append(
                Finding("claimed", row.digest, "claimed by an unfinished GC pass")
            )
            claimed.append(row)
            return
        key = layout.blob_path(row.digest)
        size: int | None = None
        if has_bytes:
            try:
                size = (await self._storage.stat(key)).size
            except PathNotFound:
                size = None
        if size is None:
            if row.linked:
                found = Finding("missing-bytes", row.digest, "linked, but storage has no bytes")
                report.damage.append(found)
                if repair:
                    report.unrepaired.append(found)
                return
            found = Finding("row-without-bytes", row.digest, "nothing links it")
            report.garbage.append(found)
            if repair and await self._gc.forget_unlinked_blob(row.digest):
                report.repaired.append(Finding(found.kind, row.digest, "row deleted"))
            return
        if size != row.size:
            found = Finding(
                "size-mismatch", row.digest, f"row says {row.size} bytes, storage has {size}"
            )
            report.damage.append(found)
            await self._corrupt(report, row, found, repair)
            return
        if verify:
            actual = await self._digest_of(key, row.digest)
            report.verified += 1
            if actual != row.digest:
                found = Finding("digest-mismatch", row.digest, f"the bytes hash to {actual}")
                report.damage.append(found)
                await self._corrupt(report, row, found, repair)

    async def _digest_of(self, key: str, digest: str) -> str:
        hasher = parse_digest(digest).hasher()
        async for chunk in self._storage.reader(key):  # streamed: one chunk at a time
            if len(chunk) > 1 << 16:
                await asyncio.to_thread(hasher.update, chunk)
            else:
                hasher.update(chunk)
        return f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"

    async def _corrupt(
        self, report: FsckReport, row: BlobRow, found: Finding, repair: bool
    ) -> None:
        """Bytes that are not what their name says: deleted (with the row) only when
        nothing links or references them; else a client must push the blob again."""
        if not repair:
            return
        if row.linked or not await self._gc.claim_blobs([row.digest], dt.datetime.now(dt.UTC)):
            report.unrepaired.append(
                Finding(found.kind, row.digest, "linked: push the blob again to replace it")
            )
            return
        with contextlib.suppress(PathNotFound):
            await self._storage.delete(layout.blob_path(row.digest))
        await self._gc.forget_blobs([row.digest])
        report.repaired.append(
            Finding(found.kind, row.digest, "unreferenced: bytes and row deleted")
        )

    async def _orphans(
        self,
        report: FsckReport,
        rows: dict[str, BlobRow],
        present: set[str],
        repair: bool,
        grace: dt.timedelta,
    ) -> None:
        horizon = time.time() - grace.total_seconds()
        for digest in sorted(present - rows.keys()):
            key = layout.blob_path(digest)
            try:
                info = await self._storage.stat(key)
            except (PathNotFound, ValueError):
                continue
            found = Finding("orphan-bytes", digest, f"{info.size} bytes without a row")
            report.garbage.append(found)
            if not repair:
                continue
            if info.modified >= horizon:
                report.unrepaired.append(
                    Finding(found.kind, digest, "younger than the grace period")
                )
                continue
            # claim it as GC would (a row marked deleting): a push of this digest now
            # waits, instead of relying on bytes about to go
            if not await self._gc.claim_orphan(digest, info.size):
                report.unrepaired.append(Finding(found.kind, digest, "a push is linking it"))
                continue
            try:
                await self._storage.delete_many([key])
            except DeleteFailed:
                report.unrepaired.append(Finding(found.kind, digest, "storage refused the delete"))
                continue
            await self._gc.forget_blobs([digest])
            report.repaired.append(Finding(found.kind, digest, "bytes deleted"))
