"""Copying blobs from one storage driver to another (a registry's storage and a
backup destination, in both directions; the hot tier and the cold one): streamed,
hashed while written, written atomically (to a temporary key, then moved into place:
a rename on a folder, a server-side assembly into one object on S3, so the blob
appears whole or not at all and is a plain object `delete_many` can delete), never
trusted: a digest or size that does not match fails the copy."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver


class BlobMismatch(Exception):
    """Bytes read do not hash to their digest (or have another size)."""


@dataclass(slots=True)
class Copied:
    blobs: int = 0
    bytes: int = 0
    skipped: int = 0
    absent: list[str] | None = None


async def held(driver: StorageDriver, progress: Callable[[int], None] | None = None) -> set[str]:
    """Every digest with bytes under blobs/<algorithm>/<xx>/<encoded> in `driver`."""
    found: set[str] = set()

    async def children(prefix: str) -> list[str]:
        try:
            return await driver.list(prefix)
        except PathNotFound:
            return []

    for alg_key in await children("blobs"):
        alg = alg_key.rsplit("/", 1)[1]
        for fan in await children(alg_key):
            for key in await children(fan):
                digest = f"{alg}:{key.rsplit('/', 1)[1]}"
                with contextlib.suppress(Exception):
                    if layout.blob_path(digest) == key:
                        found.add(digest)
            if progress is not None:
                progress(len(found))
    return found


async def copy_blob(source: StorageDriver, target: StorageDriver, digest: str, size: int) -> int:
    """Copy one blob, verified; its size. PathNotFound when the source lacks it."""
    path = layout.blob_path(digest)
    algorithm, _, expected = digest.partition(":")
    hasher = hashlib.new(algorithm)
    key = f"_tmp/copy-{uuid.uuid4().hex}"
    writer = await target.writer(key)
    written = 0
    try:
        async for chunk in source.reader(path):
            hasher.update(chunk)
            written += len(chunk)
            await writer.write(chunk)
        if hasher.hexdigest() != expected or written != size:
            raise BlobMismatch(
                f"{digest}: read {written} bytes hashing to {algorithm}:{hasher.hexdigest()}"
                f" (expected {size} bytes)"
            )
        await writer.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await writer.cancel()
        with contextlib.suppress(Exception):
            await target.delete(key)
        raise
    finally:
        with contextlib.suppress(Exception):
            await writer.close()
    try:
        await target.move(key, path)
    except BaseException:
        with contextlib.suppress(Exception):
            await target.delete(key)
        raise
    return written


async def copy_many(
    source: StorageDriver,
    target: StorageDriver,
    wanted: Iterable[tuple[str, int]],
    *,
    concurrency: int,
    optional: frozenset[str] = frozenset(),
    progress: Callable[[int, int], None] | None = None,
) -> Copied:
    """Copy `wanted` (digest, size) with `concurrency` copies at once. A digest in
    `optional` that the source lacks is recorded in `absent`, not an error."""
    done = Copied(absent=[])
    queue = list(wanted)
    lock = asyncio.Lock()

    async def lane() -> None:
        while queue:
            digest, size = queue.pop()
            try:
                n = await copy_blob(source, target, digest, size)
            except PathNotFound:
                if digest not in optional:
                    raise PathNotFound(layout.blob_path(digest)) from None
                async with lock:
                    assert done.absent is not None
                    done.absent.append(digest)
                continue
            async with lock:
                done.blobs += 1
                done.bytes += n
                if progress is not None:
                    progress(done.blobs, done.bytes)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, concurrency)):
                group.create_task(lane())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return done
