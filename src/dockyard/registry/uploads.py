"""Blob uploads: streamed to storage while hashing, committed bytes-before-rows."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from dockyard.errors import (
    BlobBusy,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    QuotaExceeded,
    RangeInvalid,
    SizeInvalid,
)
from dockyard.metadata.records import BlobRecord, MetadataStore, UploadRecord
from dockyard.oci.digest import parse_digest
from dockyard.registry.hashing import DEFAULT_ALGORITHM, HasherCache, catch_up
from dockyard.registry.holders import current_holder, holder_is_dead
from dockyard.storage import layout
from dockyard.storage.base import FileWriter, PathNotFound, StorageDriver

if TYPE_CHECKING:
    from dockyard.metrics import UploadCounters

log = logging.getLogger(__name__)

T = TypeVar("T")
Body = AsyncIterator[bytes]
LEASE_RENEWALS = 4  # a streaming request renews its lease this many times per lease period
PIPE_BYTES = 1 << 20
INLINE_HASH_BYTES = 64 << 10  # sha256 of 64 KiB: ~0.1 ms, about what a thread hop costs
BUSY_WAIT_SECONDS = 10.0  # how long a push waits for GC to finish deleting its blob
# (a pass deletes a claimed batch in well under a second; this stays below the upload
# lease, registry.upload_lease_seconds, which the waiting request holds)


async def unless_busy(call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, again while it says a GC pass is deleting the blob (BlobBusy): GC
    deletes the bytes, then the row; after that the blob is simply new again."""
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    pause = 0.02
    while True:
        try:
            return await call()
        except BlobBusy:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)  # backoff while GC finishes that batch
        pause = min(pause * 2, 1.0)


def _uncounted(amount: float = 1) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Where a request body claims to go: `start` from Content-Range, `length`
    from Content-Range or Content-Length (None when the client did not say)."""

    start: int | None = None
    length: int | None = None


class UploadService:
    def __init__(
        self,
        store: MetadataStore,
        storage: StorageDriver,
        *,
        lease_seconds: float,
        mount_without_from: bool,
        counters: UploadCounters | None = None,
    ) -> None:
        self._store = store
        self._storage = storage
        self._lease = lease_seconds
        self._mount_without_from = mount_without_from
        self._hashers = HasherCache()
        self._started = counters.started.inc if counters else _uncounted
        self._completed = counters.completed.inc if counters else _uncounted
        self._failed = counters.failed.inc if counters else _uncounted

    # -- session lifecycle ------------------------------------------------------

    async def start(self, repository: str) -> UploadRecord:
        rec = await self._store.create_upload(repository, uuid.uuid4().hex)
        self._started()
        return rec

    async def status(self, repository: str, upload_id: str) -> UploadRecord:
        rec = await self._store.get_upload(repository, upload_id)
        if rec is None:
            raise BlobUploadUnknown(f"upload {upload_id[:64]} unknown")
        return rec

    async def cancel(self, repository: str, upload_id: str) -> None:
        await self.status(repository, upload_id)
        await self._store.delete_upload(upload_id)
        self._hashers.discard(upload_id)
        await self._remove_data(upload_id)

    async def mount(
        self,
        repository: str,
        digest: str,
        from_repository: str | None,
    ) -> BlobRecord | None:
        """Link an existing blob into `repository`; None means fall back to an upload.
        Without `from`, the blob may come from any repository (authorization decided
        beforehand that the caller may read it)."""
        try:
            parse_digest(digest)
        except DigestInvalid:
            return None
        if from_repository is None and not self._mount_without_from:
            return None
        blob = await self._store.get_blob(from_repository, digest)
        if blob is None:
            return None
        try:
            await self._store.link_blob(repository, blob.digest, blob.size)
        except BlobBusy:  # GC is deleting it (the source's link went meanwhile): upload it
            return None
        return blob

    # -- data -------------------------------------------------------------------

    async def _stream(
        self,
        writer: FileWriter,
        body: Body,
        hasher: hashlib._Hash | None,
        limit: int | None,
        upload_id: str | None,
    ) -> int:
        """Copy `body` into `writer`; return the number of bytes written.

        The body is gathered into PIPE_BYTES pieces; each piece is written on
        the event loop while the piece before is hashed in a thread (hashlib
        releases the GIL), so hashing overlaps receiving and writing."""
        written = 0
        every = self._lease / LEASE_RENEWALS
        next_refresh = time.monotonic() + every
        parts: list[bytes] = []
        held = 0
        hashing: asyncio.Future[None] | None = None
        try:
            async for chunk in body:
                if not chunk:
                    continue
                written += len(chunk)
                if limit is not None and written > limit:
                    raise SizeInvalid(f"body longer than the declared {limit} bytes")
                parts.append(chunk)
                held += len(chunk)
                if held >= PIPE_BYTES:
                    hashing = await self._pipe(writer, hasher, parts, hashing)
                    parts, held = [], 0
                if upload_id is not None and time.monotonic() > next_refresh:
                    next_refresh = time.monotonic() + every
                    await self._store.lease_upload_refresh(upload_id, self._lease)
            if parts:
                hashing = await self._pipe(writer, hasher, parts, hashing)
        finally:
            if hashing is not None:
                await hashing  # the hasher must not be touched by a thread after this
        return written

    @staticmethod
    async def _pipe(
        writer: FileWriter,
        hasher: hashlib._Hash | None,
        parts: list[bytes],
        hashing: asyncio.Future[None] | None,
    ) -> asyncio.Future[None] | None:
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if hashing is not None:
            await hashing
        started = None
        if hasher is not None:
            if len(data) < INLINE_HASH_BYTES:  # cheaper than the hop to a thread
                hasher.update(data)
            else:
                started = asyncio.ensure_future(asyncio.to_thread(hasher.update, data))
        try:
            await writer.write(data)
        except BaseException:
            if started is not None:
                await started
            raise
        return started

    async def _take_lease(
        self, repository: str, upload_id: str, quota: tuple[str, int] | None = None
    ) -> int | None:
        """Lease the upload for this process; the offset, or None if a live holder has it.
        A holder known to be dead (crashed, killed) is taken over at once. With `quota`,
        QuotaExceeded if the blob would not fit (lease_upload)."""
        me = current_holder()
        leased = await self._store.lease_upload(
            repository, upload_id, None, self._lease, holder=me, quota=quota
        )
        if leased is not None:
            return leased
        rec = await self.status(repository, upload_id)  # 404 if it is unknown
        if not holder_is_dead(rec.lease_holder):
            return None
        leased = await self._store.lease_upload(
            repository,
            upload_id,
            None,
            self._lease,
            holder=me,
            take_from=rec.lease_holder,
            quota=quota,
        )
        if leased is not None:
            log.info("upload %s: took over the lease of a writer that is gone", upload_id)
        return leased

    async def append(self, repository: str, upload_id: str, body: Body, chunk: Chunk) -> int:
        """Append one PATCH body; return the new offset.

        A body that does not arrive whole (client gone, wrong length) leaves the
        upload exactly where it was."""
        offset = await self._lease_at(repository, upload_id, chunk)
        offset = await self._write_leased(upload_id, offset, body, chunk)
        await self._store.release_upload(upload_id, offset)
        return offset

    async def _lease_at(
        self,
        repository: str,
        upload_id: str,
        chunk: Chunk,
        quota: tuple[str, int] | None = None,
    ) -> int:
        """Take the upload's lease for a write at `chunk.start`; return its offset."""
        leased = await self._take_lease(repository, upload_id, quota)
        if leased is None:  # another request holds it (416)
            rec = await self.status(repository, upload_id)
            raise RangeInvalid(
                "another request is writing to this upload", current_offset=rec.offset
            )
        offset = leased
        if chunk.start is not None and chunk.start != offset:
            await self._store.release_upload(upload_id, offset)
            raise RangeInvalid(
                f"chunk starts at {chunk.start}, upload is at {offset}", current_offset=offset
            )
        return offset

    async def _write_leased(self, upload_id: str, offset: int, body: Body, chunk: Chunk) -> int:
        """Write a body at `offset` of a leased upload; return the new offset, the lease
        still held. On failure the lease is released where the upload was."""
        try:
            hashed, hasher = self._hashers.take(upload_id)
            if hashed > offset:
                hashed, hasher = 0, hashlib.new(DEFAULT_ALGORITHM)
            await catch_up(self._storage, upload_id, hashed, hasher, offset)
            writer = await self._storage.writer(layout.upload_data_path(upload_id), offset)
            try:
                written = await self._stream(writer, body, hasher, chunk.length, upload_id)
                if chunk.length is not None and written != chunk.length:
                    raise SizeInvalid(
                        f"received {written} bytes, the request declared {chunk.length}"
                    )
                await writer.commit()
            except BaseException:
                await writer.cancel()
                raise
            finally:
                await writer.close()
        except BaseException:
            await self._store.release_upload(upload_id, offset)
            raise
        offset += written
        self._hashers.put(upload_id, offset, hasher)
        return offset

    async def finish(
        self, repository: str, upload_id: str, digest: str, body: Body | None, chunk: Chunk
    ) -> str:
        """Complete an upload (optionally with a last chunk) and verify its digest."""
        expected = parse_digest(digest)
        # A small last chunk of declared length: the quota is checked with the lease
        # (one transaction less), before the body is read.
        precheck = (
            (str(expected), chunk.length)
            if body is not None and chunk.length is not None and chunk.length <= PIPE_BYTES
            else None
        )
        if body is not None:  # the last chunk: written under the lease the commit keeps
            try:
                offset = await unless_busy(
                    lambda: self._lease_at(repository, upload_id, chunk, precheck)
                )
            except QuotaExceeded:
                await self._refuse(upload_id)
                raise
            size = await self._write_leased(upload_id, offset, body, chunk)
        else:
            leased = await self._take_lease(repository, upload_id)
            if leased is None:
                raise BlobUploadInvalid("another request is writing to this upload")
            size = leased
        try:
            if expected.algorithm == DEFAULT_ALGORITHM:
                hashed, hasher = self._hashers.take(upload_id)
                if hashed > size:
                    hashed, hasher = 0, hashlib.new(DEFAULT_ALGORITHM)
            else:
                hashed, hasher = 0, expected.hasher()
            await self._ensure_data(upload_id, size)
            await catch_up(self._storage, upload_id, hashed, hasher, size)
            actual = f"{expected.algorithm}:{hasher.hexdigest()}"
            if actual != str(expected):
                await self._store.delete_upload(upload_id)
                await self._remove_data(upload_id)
                self._failed()
                raise DigestInvalid(
                    f"upload content has digest {actual}, not {expected}",
                    detail={"digest": str(expected)},
                )
            if precheck is None:  # else checked with the lease, for this digest and size
                try:
                    await unless_busy(lambda: self._store.check_quota(repository, actual, size))
                except QuotaExceeded:
                    await self._refuse(upload_id)
                    raise
            await self._commit_blob(upload_id, actual, size)
        except BaseException:
            await self._store.release_upload(upload_id, size)
            raise
        try:
            await self._store.complete_upload(repository, upload_id, actual, size)
        except BlobBusy:
            # GC claimed the blob between the pin and now (a grace period shorter than
            # this upload took): the bytes may be gone, so the client pushes it again
            await self._store.delete_upload(upload_id)
            self._hashers.discard(upload_id)
            self._failed()
            raise
        except QuotaExceeded:
            # a concurrent push filled the quota since the check: the bytes stay for GC
            await self._store.delete_upload(upload_id)
            self._hashers.discard(upload_id)
            self._failed()
            raise
        self._hashers.discard(upload_id)
        self._completed()
        return actual

    async def monolithic(self, repository: str, digest: str, body: Body, chunk: Chunk) -> str:
        """POST ?digest= with the whole blob: no session row is ever needed."""
        self._started()
        try:
            actual = await self._monolithic(repository, digest, body, chunk)
        except BaseException:
            self._failed()
            raise
        self._completed()
        return actual

    async def _monolithic(self, repository: str, digest: str, body: Body, chunk: Chunk) -> str:
        expected = parse_digest(digest)
        upload_id = uuid.uuid4().hex
        hasher = expected.hasher()
        writer = await self._storage.writer(layout.upload_data_path(upload_id), 0)
        try:
            written = await self._stream(writer, body, hasher, chunk.length, None)
            if chunk.length is not None and written != chunk.length:
                raise SizeInvalid(f"received {written} bytes, the request declared {chunk.length}")
            actual = f"{expected.algorithm}:{hasher.hexdigest()}"
            if actual != str(expected):
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not {expected}",
                    detail={"digest": str(expected)},
                )
            await unless_busy(lambda: self._store.check_quota(repository, actual, written))
            await writer.commit()
        except BaseException:
            await writer.close()
            await self._remove_data(upload_id)
            raise
        await writer.close()
        await self._commit_blob(upload_id, actual, written)
        await self._store.link_blob(repository, actual, written)
        return actual

    # -- helpers ----------------------------------------------------------------

    async def _refuse(self, upload_id: str) -> None:
        """Over the quota: the session and its bytes go."""
        await self._store.delete_upload(upload_id)
        await self._remove_data(upload_id)
        self._hashers.discard(upload_id)
        self._failed()

    async def _ensure_data(self, upload_id: str, size: int) -> None:
        """An upload that never received a byte has no data file yet: make an empty one."""
        if size == 0:
            writer = await self._storage.writer(layout.upload_data_path(upload_id), 0)
            await writer.close()

    async def _commit_blob(self, upload_id: str, digest: str, size: int) -> None:
        """Make verified upload bytes the content-addressed blob (bytes before rows)."""
        target = layout.blob_path(digest)
        try:
            existing = await self._storage.stat(target)
        except PathNotFound:
            existing = None
        if existing is not None and existing.size == size:
            await self._remove_data(upload_id)  # deduplicated: the bytes are already there
            return
        await self._storage.move(layout.upload_data_path(upload_id), target)
        await self._remove_data(upload_id)

    async def _remove_data(self, upload_id: str) -> None:
        try:
            await self._storage.delete(layout.upload_dir(upload_id))
        except PathNotFound:
            pass
        except Exception:  # orphans are collected later; the request has its answer
            log.warning("could not remove data of upload %s", upload_id, exc_info=True)
