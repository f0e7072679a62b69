"""VulnDb: the imported advisories in the metadata database (vulndb/tables.py).

An import writes in one transaction: a reader sees the database before it or after it,
never half of it, and the generation moves (once) only when an advisory was added,
replaced by a newer `modified`, or withdrawn. Records are read and compared with the
stored ones first, in batches, outside that transaction (in a worker thread, so the
event loop does not wait on a large zip); only the changes are staged and then written,
so the write lock (SQLite) is held for the writing alone, and not at all for a
re-import of the same data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import logging
import tempfile
import zlib
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.errors import InvalidRequest
from dockyard.metadata.engine import HasEngines
from dockyard.supplychain.vulndb import osv
from dockyard.supplychain.vulndb.matcher import VulnIndex
from dockyard.supplychain.vulndb.tables import advisories, affected, state

BATCH = 500
MAX_REASONS = 10
log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class ImportResult:
    files: int
    """documents read (JSON files and zip members)"""
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: int
    reasons: tuple[str, ...]
    """the first few skips: "<file>: <reason>" """
    generation: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True, slots=True)
class DbStatus:
    generation: int
    advisories: int
    ecosystems: dict[str, int] = field(default_factory=dict)
    """advisories per OSV ecosystem ("Debian:12", "PyPI", …)"""
    imported_at: dt.datetime | None = None
    changed_at: dt.datetime | None = None


@dataclass(slots=True)
class _Batch:
    files: int = 0
    items: list[osv.Advisory] = field(default_factory=list)
    skips: list[osv.Skipped] = field(default_factory=list)


@dataclass(slots=True)
class _Counts:
    files: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


def _batches(path: Path, size: int) -> Generator[_Batch, None, None]:
    batch = _Batch()
    for item in osv.advisories(path):
        batch.files += 1
        if isinstance(item, osv.Skipped):
            batch.skips.append(item)
        else:
            batch.items.append(item)
        if batch.files >= size:
            yield batch
            batch = _Batch()
    if batch.files:
        yield batch


def _newest(items: list[osv.Advisory], counts: _Counts) -> dict[str, osv.Advisory]:
    """One record per id, the latest `modified`; the others count as unchanged."""
    newest: dict[str, osv.Advisory] = {}
    for item in items:
        held = newest.get(item.id)
        if held is None or held.modified < item.modified:
            newest[item.id] = item
    counts.unchanged += len(items) - len(newest)
    return newest


async def _stored(conn: AsyncConnection, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    q = select(advisories.c.id, advisories.c.modified).where(advisories.c.id.in_(ids))
    return {r.id: r.modified for r in await conn.execute(q)}


def _change(before: str | None, item: osv.Advisory) -> str | None:
    """What storing `item` does where `before` is the stored `modified` (None: none)."""
    if before is not None and before >= item.modified:
        return None
    if item.withdrawn:
        return None if before is None else "removed"
    return "added" if before is None else "updated"


def _gzip(file: IO[bytes], mode: str) -> gzip.GzipFile:
    """The staging file, compressed (fast): trimmed records are repetitive JSON."""
    return gzip.GzipFile(fileobj=file, mode=mode, compresslevel=1)


def _stage(file: gzip.GzipFile, items: list[osv.Advisory]) -> None:
    for a in items:
        line = [a.id, a.modified, a.withdrawn, a.record, a.packages]
        file.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")


def _unstage(file: gzip.GzipFile, count: int) -> list[osv.Advisory]:
    items: list[osv.Advisory] = []
    while len(items) < count and (line := file.readline()):
        id, modified, withdrawn, record, packages = json.loads(line)
        items.append(
            osv.Advisory(id, modified, withdrawn, record, tuple((e, n) for e, n in packages))
        )
    return items


def _survey(root: Path) -> int | None:
    if not (root.is_dir() or root.is_file()):
        raise InvalidRequest(f"{root} is neither a folder nor a file")
    return osv.count_documents(root)


def _pack(record: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(record, separators=(",", ":")).encode(), 6)


def _unpack(blob: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(zlib.decompress(blob))
    return loaded


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class VulnDb:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine
        self._index: VulnIndex | None = None
        self._building = asyncio.Lock()

    # -- import ---------------------------------------------------------------------

    async def import_osv(
        self, path: str | Path, progress: Progress | None = None, *, batch_size: int = BATCH
    ) -> ImportResult:
        """Import OSV records from a folder, a zip, or a JSON file (osv.documents).

        First every record is read, validated and compared with what is stored (no lock
        held), and the ones that change something are staged in a temporary file; then
        one write transaction applies them (checking each again) and moves the
        generation. A re-import of the same data writes nothing but the import time."""
        root = Path(path)
        total = await asyncio.to_thread(_survey, root)
        counts = _Counts()
        now = dt.datetime.now(dt.UTC)
        with tempfile.TemporaryFile() as spool:
            with closing(_batches(root, batch_size)) as batches, _gzip(spool, "wb") as staged:
                while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                    changes = await self._changes(batch, counts)
                    if changes:
                        await asyncio.to_thread(_stage, staged, changes)
                    if progress is not None:
                        progress(counts.files, total)
            await asyncio.to_thread(spool.seek, 0)
            with _gzip(spool, "rb") as staged:
                async with self._write.begin() as conn:
                    generation = await self._locked_generation(conn)
                    while chunk := await asyncio.to_thread(_unstage, staged, batch_size):
                        await self._apply(conn, chunk, counts)
                    values: dict[str, Any] = {"imported_at": now}
                    if counts.added or counts.updated or counts.removed:
                        generation += 1
                        values |= {"generation": generation, "changed_at": now}
                    await conn.execute(update(state).where(state.c.id == 1).values(**values))
        if counts.skipped > MAX_REASONS:
            log.warning(
                "vulndb import: skipped %d records in all (the first %d are logged above)",
                counts.skipped,
                MAX_REASONS,
            )
        return ImportResult(
            counts.files,
            counts.added,
            counts.updated,
            counts.removed,
            counts.unchanged,
            counts.skipped,
            tuple(counts.reasons),
            generation,
        )

    async def _changes(self, batch: _Batch, counts: _Counts) -> list[osv.Advisory]:
        """The batch's records that change the database as it is now (read, no lock)."""
        counts.files += batch.files
        for skip in batch.skips:
            counts.skipped += 1
            if len(counts.reasons) < MAX_REASONS:
                counts.reasons.append(skip.describe())
                log.warning("vulndb import: skipped %s", skip.describe())
        newest = _newest(batch.items, counts)
        if not newest:
            return []
        async with self._read.connect() as conn:
            stored = await _stored(conn, list(newest))
        changes = [a for a in newest.values() if _change(stored.get(a.id), a) is not None]
        counts.unchanged += len(newest) - len(changes)
        return changes

    @staticmethod
    async def _locked_generation(conn: AsyncConnection) -> int:
        """The generation, with the state row locked (PostgreSQL: FOR UPDATE; SQLite: the
        transaction holds the write lock already): two imports queue, not interleave."""
        q = select(state.c.generation).where(state.c.id == 1)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        found = await conn.scalar(q)
        if found is None:
            await conn.execute(state.insert().values(id=1, generation=0))
            return 0
        return int(found)

    @staticmethod
    async def _apply(conn: AsyncConnection, items: list[osv.Advisory], counts: _Counts) -> None:
        """Write staged records, each compared again with what is stored."""
        newest = _newest(items, counts)
        stored = await _stored(conn, list(newest))
        gone: list[str] = []
        fresh: list[osv.Advisory] = []
        for item in newest.values():
            before = stored.get(item.id)
            change = _change(before, item)
            if change is None:
                counts.unchanged += 1
                continue
            if change == "removed":
                counts.removed += 1
            elif change == "added":
                counts.added += 1
            else:
                counts.updated += 1
            if before is not None:
                gone.append(item.id)
            if change != "removed":
                fresh.append(item)
        if gone:
            await conn.execute(delete(affected).where(affected.c.advisory_id.in_(gone)))
            await conn.execute(delete(advisories).where(advisories.c.id.in_(gone)))
        if fresh:
            await conn.execute(
                advisories.insert(),
                [{"id": a.id, "modified": a.modified, "record": _pack(a.record)} for a in fresh],
            )
            await conn.execute(
                affected.insert(),
                [
                    {"advisory_id": a.id, "ecosystem": eco, "name": name}
                    for a in fresh
                    for eco, name in a.packages
                ],
            )

    # -- reading --------------------------------------------------------------------

    async def generation(self) -> int:
        async with self._read.connect() as conn:
            found = await conn.scalar(select(state.c.generation).where(state.c.id == 1))
        return int(found or 0)

    async def status(self) -> DbStatus:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(state).where(state.c.id == 1))).first()
            total = await conn.scalar(select(func.count()).select_from(advisories))
            per = await conn.execute(
                select(affected.c.ecosystem, func.count(func.distinct(affected.c.advisory_id)))
                .group_by(affected.c.ecosystem)
                .order_by(affected.c.ecosystem)
            )
            ecosystems = {str(eco): int(n) for eco, n in per}
        if row is None:
            return DbStatus(0, int(total or 0), ecosystems)
        return DbStatus(
            int(row.generation),
            int(total or 0),
            ecosystems,
            _utc(row.imported_at),
            _utc(row.changed_at),
        )

    async def index(self) -> VulnIndex:
        """The index of the current generation: one query when it is built already."""
        generation = await self.generation()
        cached = self._index
        if cached is not None and cached.generation == generation:
            return cached
        async with self._building:
            cached = self._index
            if cached is not None and cached.generation == generation:
                return cached
            built = await self._build(generation)
            self._index = built
            return built

    async def _build(self, generation: int) -> VulnIndex:
        """Every advisory, read in one statement (one snapshot); if an import committed
        between the generation read before and after it, read again."""
        for _ in range(5):
            index = VulnIndex(generation)
            async with self._read.connect() as conn:
                q = select(advisories.c.id, advisories.c.record).order_by(advisories.c.id)
                result = await conn.stream(q)
                async for part in result.partitions(1000):
                    rows = [(r.id, r.record) for r in part]
                    await asyncio.to_thread(_add_all, index, rows)
            after = await self.generation()
            if after == generation:
                return index
            generation = after
        return index


def _add_all(index: VulnIndex, rows: list[tuple[str, bytes]]) -> None:
    for id, blob in rows:
        try:
            index.add(_unpack(blob))
        except (ValueError, KeyError, TypeError, zlib.error) as exc:  # a row not written here
            log.warning("vulndb: advisory %s is unreadable and left out (%s)", id, exc)
