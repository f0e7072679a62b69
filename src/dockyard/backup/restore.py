"""Rebuilding an empty instance from a snapshot, on either topology (a snapshot of
the embedded default restores into PostgreSQL + S3 and back).

1. The database is migrated to the snapshot's schema revisions (every branch's), so
   its tables are the ones the rows came from; it must hold no repository yet (a
   fresh instance: its bootstrap administrator is replaced by the snapshot's users).
2. In one transaction, every table the snapshot carries is emptied and loaded in
   foreign-key order, each value converted by the target's own column types; on
   PostgreSQL the id sequences are moved past the loaded ids.
3. The database is migrated on to this build's heads.
4. The blobs are copied into the configured storage, verified; blobs already there
   with their size are kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.engine import Connection

from dockyard.backup.codec import decode
from dockyard.backup.run import BackupError, Progress, _quiet, blob_rows, table_lines
from dockyard.backup.snapshot import SKIPPED
from dockyard.metadata.engine import make_engines
from dockyard.storage.base import StorageDriver
from dockyard.storage.transfer import copy_many, held

BATCH = 500


def _reflect(conn: Connection) -> list[Table]:
    meta = MetaData()
    meta.reflect(bind=conn)
    return [t for t in meta.sorted_tables if t.name not in SKIPPED]


def _sequences(conn: Connection, tables: list[Table]) -> None:
    for table in tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or str(column.type).upper() not in (
                "INTEGER",
                "BIGINT",
            ):
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if sequence:
                conn.execute(
                    text(
                        f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") '
                        f'FROM "{table.name}"), 1), (SELECT COUNT(*) FROM "{table.name}") > 0)'
                    ),
                    {"s": sequence},
                )


async def restore(
    settings: Any,
    source: StorageDriver,
    storage: StorageDriver,
    snap: dict[str, Any],
    *,
    branches: list[Any],
    concurrency: int,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    from dockyard.metadata.migrate import upgrade

    url = settings.database_url
    progress("schema", 0, 1)
    for head in snap["heads"]:
        try:
            await upgrade(url, head, branches=branches)
        except Exception as exc:
            raise BackupError(
                f"the snapshot's schema revision {head} is not one this Dockyard knows "
                f"({type(exc).__name__}: {exc}); restore it with the version that made it "
                f"({snap.get('dockyard')}) or a newer one"
            ) from None
    progress("schema", 1, 1)
    carried = {t["name"]: t for t in snap["tables"]}
    absent = set(snap.get("absent") or [])
    lines_of: dict[str, list[str]] = {}
    for name in carried:
        lines_of[name] = await table_lines(source, snap, name)
    _, writer = make_engines(url, pool_size=1)
    loaded: dict[str, int] = {}
    try:
        async with writer.begin() as conn:
            tables = await conn.run_sync(_reflect)
            repos = next((t for t in tables if t.name == "repositories"), None)
            if (
                repos is not None
                and (await conn.execute(select(func.count()).select_from(repos))).scalar()
            ):
                raise BackupError(
                    "the target already holds repositories: restore rebuilds an empty "
                    "instance (point it at a new database and storage)"
                )
            for table in reversed(tables):
                if table.name in carried:
                    await conn.execute(table.delete())
            total = sum(int(t["rows"]) for t in snap["tables"])
            done = 0
            for table in tables:
                lines = lines_of.get(table.name)
                if lines is None:
                    continue
                rows = [decode(table, line) for line in lines]
                if table.name in ("blobs", "repository_blobs") and absent:
                    rows = [r for r in rows if r.get("digest") not in absent]
                for start in range(0, len(rows), BATCH):
                    await conn.execute(table.insert(), rows[start : start + BATCH])
                loaded[table.name] = len(rows)
                done += len(rows)
                progress("rows", done, total)
            if conn.dialect.name == "postgresql":
                await conn.run_sync(lambda sync: _sequences(sync, tables))
    finally:
        await writer.dispose()
    await upgrade(url, "heads", branches=branches)
    wanted = await blob_rows(source, snap)
    present = await held(storage)
    missing = [(d, s) for d, s in wanted if d not in present]
    total_bytes = sum(s for _, s in missing)
    copied = await copy_many(
        source, storage, missing, concurrency=concurrency,
        progress=lambda n, b: progress("blobs", b, total_bytes),
    )  # fmt: skip
    return {
        "snapshot": snap["id"],
        "rows": loaded,
        "blobs": {
            "copied": copied.blobs,
            "bytes": copied.bytes,
            "present": len(wanted) - len(missing),
        },
    }
