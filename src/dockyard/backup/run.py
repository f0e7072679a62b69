"""Making, listing and pruning snapshots in a destination.

A backup takes the metadata snapshot first, then copies the blobs the snapshot's
`blobs` table names that the destination lacks (listed once: an incremental backup
copies only what no earlier snapshot holds), then writes `snapshot.json` last. A
backup cut off before that leaves no snapshot, only blobs the next one reuses.

A blob row whose bytes are gone by the time they are copied is only acceptable when
no manifest of the snapshot references it (an upload garbage collection reclaimed
meanwhile); the snapshot records it as absent and restore leaves its row out.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import __version__
from dockyard.backup.snapshot import take
from dockyard.metadata.engine import utcnow
from dockyard.storage.base import PathNotFound, StorageDriver
from dockyard.storage.transfer import Copied, copy_many, held

SNAPSHOTS = "snapshots"
FORMAT = 1


class BackupError(Exception):
    pass


@dataclass(slots=True)
class Snapshot:
    id: str
    created_at: dt.datetime
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{SNAPSHOTS}/{self.id}"


def snapshot_id(at: dt.datetime) -> str:
    return f"{at:%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


async def _upload_file(driver: StorageDriver, key: str, path: Path) -> None:
    writer = await driver.writer(key)
    source = await asyncio.to_thread(open, path, "rb")
    try:
        while block := await asyncio.to_thread(source.read, 1 << 20):
            await writer.write(block)
        await writer.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await writer.cancel()
        raise
    finally:
        source.close()
        with contextlib.suppress(Exception):
            await writer.close()


def _referenced(folder: Path) -> set[str]:
    """Digests the snapshot's manifests reference (blobs and child manifests)."""
    found: set[str] = set()
    path = folder / "manifest_references.jsonl.gz"
    if path.exists():
        with gzip.open(path, "rt") as lines:
            for line in lines:
                if line.strip():
                    found.add(json.loads(line)["digest"])
    return found


Progress = Callable[[str, int, int], None]
"""(phase, done, total)"""


def _quiet(phase: str, done: int, total: int) -> None:
    pass


async def create(
    services: Any, destination: StorageDriver, *, concurrency: int, progress: Progress = _quiet
) -> dict[str, Any]:
    """Back up the registry `services` run on into `destination`; the snapshot document."""
    started = utcnow()
    snap = Snapshot(snapshot_id(started), started)
    with tempfile.TemporaryDirectory(prefix="dockyard-backup-") as tmp:
        folder = Path(tmp)
        progress("metadata", 0, 1)
        dump = await take(services.settings.database_url, folder)
        for table in dump.tables:
            await _upload_file(
                destination, f"{snap.prefix}/tables/{table.name}.jsonl.gz",
                folder / f"{table.name}.jsonl.gz",
            )  # fmt: skip
        progress("metadata", 1, 1)
        referenced = _referenced(folder)
    progress("listing the destination", 0, 0)
    present = await held(destination, lambda n: progress("listing the destination", n, 0))
    missing = [(d, s) for d, s in dump.blobs if d not in present]
    total = sum(s for _, s in missing)
    optional = frozenset(d for d, _ in dump.blobs if d not in referenced)
    try:
        copied: Copied = await copy_many(
            services.storage, destination, missing, concurrency=concurrency, optional=optional,
            progress=lambda n, b: progress("blobs", b, total),
        )  # fmt: skip
    except PathNotFound as exc:
        raise BackupError(
            f"{exc}: a blob the snapshot's manifests reference is not in storage "
            "(run `dockyard fsck`)"
        ) from None
    document = {
        "format": FORMAT,
        "id": snap.id,
        "created_at": started.isoformat(),
        "finished_at": utcnow().isoformat(),
        "dockyard": __version__,
        "dialect": dump.dialect,
        "heads": dump.heads,
        "tables": [
            {"name": t.name, "rows": t.rows, "bytes": t.bytes, "sha256": t.sha256}
            for t in dump.tables
        ],
        "blobs": {"count": len(dump.blobs), "bytes": sum(s for _, s in dump.blobs)},
        "copied": {"count": copied.blobs, "bytes": copied.bytes},
        "absent": sorted(copied.absent or []),
    }
    await destination.put_content(
        f"{snap.prefix}/snapshot.json", json.dumps(document, indent=2).encode()
    )
    return document


async def snapshots(destination: StorageDriver) -> list[dict[str, Any]]:
    """The complete snapshots (those with a snapshot.json), oldest first."""
    try:
        keys = await destination.list(SNAPSHOTS)
    except PathNotFound:
        return []
    found = []
    for key in sorted(keys):
        try:
            found.append(json.loads(await destination.get_content(f"{key}/snapshot.json")))
        except PathNotFound:
            continue  # cut off before it finished: not a snapshot
    return found


async def snapshot(destination: StorageDriver, wanted: str | None) -> dict[str, Any]:
    """The snapshot `wanted`, or the newest."""
    every = await snapshots(destination)
    if not every:
        raise BackupError("no complete snapshot in this destination")
    if wanted is None:
        return every[-1]
    for found in every:
        if found["id"] == wanted:
            return found
    raise BackupError(f"no snapshot {wanted} (`dockyard backup list` shows them)")


async def table_lines(destination: StorageDriver, snap: dict[str, Any], table: str) -> list[str]:
    data = await destination.get_content(f"{SNAPSHOTS}/{snap['id']}/tables/{table}.jsonl.gz")
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        return [line.decode() for line in lines if line.strip()]


async def blob_rows(destination: StorageDriver, snap: dict[str, Any]) -> list[tuple[str, int]]:
    absent = set(snap.get("absent") or [])
    rows = [json.loads(line) for line in await table_lines(destination, snap, "blobs")]
    return [(r["digest"], int(r["size"])) for r in rows if r["digest"] not in absent]


async def prune(destination: StorageDriver, keep: int) -> dict[str, int]:
    """Keep the newest `keep` snapshots; delete the others, then the blobs no kept
    snapshot names."""
    every = await snapshots(destination)
    doomed = every[:-keep] if keep < len(every) else []
    for snap in doomed:
        prefix = f"{SNAPSHOTS}/{snap['id']}"
        keys = [f"{prefix}/snapshot.json"]  # first: the snapshot is gone once this is
        with contextlib.suppress(PathNotFound):
            keys += await destination.list(f"{prefix}/tables")
        for key in keys:
            with contextlib.suppress(PathNotFound):
                await destination.delete(key)
    kept = every[len(doomed) :]
    wanted: set[str] = set()
    for snap in kept:
        wanted.update(d for d, _ in await blob_rows(destination, snap))
    from dockyard.storage import layout

    unneeded = sorted((await held(destination)) - wanted) if doomed else []
    if unneeded:
        await destination.delete_many([layout.blob_path(d) for d in unneeded])
    return {"snapshots_deleted": len(doomed), "blobs_deleted": len(unneeded)}
