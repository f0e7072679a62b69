"""`dockyard backup verify`: a snapshot is whole when its document is there, every
table file hashes to what the document says and decodes, and every blob it names is
in the destination with its size — and, unless `quick`, hashes to its digest (every
byte re-read)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dockyard.backup.run import SNAPSHOTS, Progress, _quiet, blob_rows
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver
from dockyard.storage.transfer import BlobMismatch


async def verify(
    destination: StorageDriver, snap: dict[str, Any], *, quick: bool, progress: Progress = _quiet
) -> list[str]:
    """The problems found (empty: the snapshot is whole)."""
    problems: list[str] = []
    for table in snap["tables"]:
        key = f"{SNAPSHOTS}/{snap['id']}/tables/{table['name']}.jsonl.gz"
        try:
            data = await destination.get_content(key)
        except PathNotFound:
            problems.append(f"table {table['name']}: file missing")
            continue
        if hashlib.sha256(data).hexdigest() != table["sha256"]:
            problems.append(f"table {table['name']}: file does not hash to the snapshot's sha256")
    try:
        wanted = await blob_rows(destination, snap)
    except (PathNotFound, ValueError, OSError, json.JSONDecodeError) as exc:
        return [*problems, f"blob list unreadable: {exc}"]
    total = len(wanted)
    for n, (digest, size) in enumerate(wanted, 1):
        path = layout.blob_path(digest)
        try:
            info = await destination.stat(path)
        except PathNotFound:
            problems.append(f"blob {digest}: missing")
            continue
        if info.size != size:
            problems.append(f"blob {digest}: {info.size} bytes, the snapshot says {size}")
            continue
        if not quick:
            try:
                await _rehash(destination, path, digest)
            except BlobMismatch as exc:
                problems.append(f"blob {exc}")
        progress("blobs", n, total)
    return problems


async def _rehash(destination: StorageDriver, path: str, digest: str) -> None:
    algorithm, _, expected = digest.partition(":")
    hasher = hashlib.new(algorithm)
    async for chunk in destination.reader(path):
        hasher.update(chunk)
    if hasher.hexdigest() != expected:
        raise BlobMismatch(f"{digest}: the bytes hash to {algorithm}:{hasher.hexdigest()}")
