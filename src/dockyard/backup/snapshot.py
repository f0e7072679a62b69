"""Taking the metadata snapshot.

PostgreSQL: one REPEATABLE READ, READ ONLY transaction reads every table (snapshot
isolation: the same consistency as pg_dump), streamed with a server-side cursor.
SQLite: the online-backup API copies the database into a private file while writers
go on (page by page, restarting if a write lands in a copied page), and the copy is
read afterwards. Either way every table is read as of one instant.

Left out: the job queue and its log (runs of the old instance), upload sessions (their
partial bytes are not in the backup), the proxy's download leases and the login
throttle. Schedules, events and every capability's tables are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, select, text
from sqlalchemy.engine import Connection, RowMapping, make_url

from dockyard.backup.codec import encode
from dockyard.metadata.engine import async_url, is_sqlite, make_engines

# runtime state, not metadata; `blob_tiers` says where a blob's bytes are, and a
# restore writes every blob to the hot tier of the instance it rebuilds; a restore
# brings back no web UI session (one that had ended would live again)
SKIPPED = frozenset(
    {
        "alembic_version",
        "jobs",
        "job_log",
        "uploads",
        "proxy_leases",
        "login_throttle",
        "blob_tiers",
        "user_sessions",
    }
)
CHUNK = 1 << 20


@dataclass(slots=True)
class TableDump:
    name: str
    rows: int = 0
    bytes: int = 0
    sha256: str = ""


@dataclass(slots=True)
class Dump:
    heads: list[str]
    dialect: str
    tables: list[TableDump] = field(default_factory=list)
    blobs: list[tuple[str, int]] = field(default_factory=list)
    """(digest, size) of every blob row of the snapshot"""


def _reflect(conn: Connection) -> list[Table]:
    meta = MetaData()
    meta.reflect(bind=conn)
    return [t for t in meta.sorted_tables if t.name not in SKIPPED]


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.c)


class _TableFile:
    """One table's rows into `<folder>/<table>.jsonl.gz`, hashed as written."""

    def __init__(self, folder: Path, name: str, dump: Dump) -> None:
        self.found = TableDump(name)
        self.path = folder / f"{name}.jsonl.gz"
        self._dump = dump
        self._raw = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)

    def add(self, row: RowMapping) -> None:
        self._gz.write(encode(row).encode() + b"\n")
        self.found.rows += 1
        if self.found.name == "blobs":
            self._dump.blobs.append((str(row["digest"]), int(row["size"])))

    def close(self) -> TableDump:
        self._gz.close()
        self._raw.close()
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                digest.update(block)
        self.found.bytes = self.path.stat().st_size
        self.found.sha256 = digest.hexdigest()
        self._dump.tables.append(self.found)
        return self.found


def _heads(conn: Connection) -> list[str]:
    return sorted(str(r[0]) for r in conn.execute(text("SELECT version_num FROM alembic_version")))


@contextlib.contextmanager
def _sqlite_copy(url: str) -> Any:
    """A private, consistent copy of the SQLite database (the online-backup API)."""
    path = make_url(async_url(url)).database
    assert path is not None
    with tempfile.TemporaryDirectory(prefix="dockyard-backup-") as tmp:
        copy = Path(tmp) / "snapshot.db"
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # one step: one read transaction; in WAL mode writers go on
        finally:
            target.close()
            source.close()
        yield copy


def _dump_sqlite(url: str, folder: Path, dump: Dump) -> None:
    with _sqlite_copy(url) as copy:
        engine = create_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as conn:
                dump.heads = _heads(conn)
                for table in _reflect(conn):
                    out = _TableFile(folder, table.name, dump)
                    try:
                        for row in conn.execute(select(table).order_by(*_order(table))).mappings():
                            out.add(row)
                    finally:
                        out.close()
        finally:
            engine.dispose()


async def take(url: str, folder: Path) -> Dump:
    """Read every table of the database at `url` as of one instant into
    `<folder>/<table>.jsonl.gz` (the caller uploads them)."""
    dump = Dump(heads=[], dialect="sqlite" if is_sqlite(url) else "postgresql")
    if dump.dialect == "sqlite":
        await asyncio.to_thread(_dump_sqlite, url, folder, dump)
        return dump
    _, writer = make_engines(url, pool_size=1)
    try:
        async with writer.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.execute(text("SET TRANSACTION READ ONLY"))
                dump.heads = await conn.run_sync(_heads)
                for table in await conn.run_sync(_reflect):
                    out = _TableFile(folder, table.name, dump)
                    try:
                        query = select(table).order_by(*_order(table))
                        async with conn.stream(query.execution_options(yield_per=2000)) as rows:
                            async for row in rows.mappings():
                                out.add(row)
                    finally:
                        out.close()
    finally:
        await writer.dispose()
    return dump


async def stream_lines(data: bytes) -> AsyncIterator[str]:
    """The lines of a table file (for restore and verify)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as lines:
        for line in lines:
            if line.strip():
                yield line.decode()
