"""A StorageDriver over two: the hot tier, where everything is written and first
looked for, and the cold tier, where the tiering job moves blobs nobody pulls.

Reads try hot first and fall through to cold on PathNotFound, so every reader —
the blob GET, the scanner, fsck, a backup — finds a blob on whichever tier holds
it, without knowing tiers exist. In `recall` mode the first read of a cold blob
also copies it back to hot (in the background, verified, at most `recalls` at once)
while the client is served from cold; in `stream` mode it stays cold until the
tiering job warms it (its rule no longer holds). The tiering job then drops the
cold copy of a blob that is hot again.

A blob is always whole on at least one tier: the job copies (verified) before it
deletes, a recall copies before the job deletes the cold copy, and deletes go to
both tiers. Writes and moves go to hot only: an upload, a re-push of a cold blob
(both tiers hold it until the job's next pass) or a restore lands hot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from dockyard.storage import layout
from dockyard.storage.base import (
    DeleteFailed,
    FileInfo,
    FileWriter,
    PathNotFound,
    StorageDriver,
)
from dockyard.storage.transfer import copy_blob

log = logging.getLogger(__name__)

Mode = Literal["stream", "recall"]


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class TieredDriver:
    def __init__(
        self,
        hot: StorageDriver,
        cold: StorageDriver,
        *,
        mode: Mode = "stream",
        recalls: int = 4,
    ) -> None:
        self.name = hot.name  # writes are hot's
        self.hot = hot
        self.cold = cold
        self.mode: Mode = mode
        self._recall_slots = asyncio.Semaphore(max(1, recalls))
        self._recalling: dict[str, asyncio.Task[None]] = {}
        # this process's counts, for /metrics (counters: Prometheus sums the replicas)
        self.cold_reads = 0
        self.recalled = 0
        self.recall_failures = 0

    # -- reads: hot, then cold -------------------------------------------------------

    async def stat(self, path: str) -> FileInfo:
        try:
            return await self.hot.stat(path)
        except PathNotFound:
            return await self.cold.stat(path)

    async def get_content(self, path: str) -> bytes:
        try:
            return await self.hot.get_content(path)
        except PathNotFound:
            data = await self.cold.get_content(path)
        self._cold_read(path)
        return data

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        chunks = self.hot.reader(path, offset, length)
        try:
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                return
            except PathNotFound:
                pass  # below, outside this handler: the cold stream is not its context
            else:
                yield first
                async for chunk in chunks:
                    yield chunk
                return
        finally:
            await _close(chunks)
        cold = self.cold.reader(path, offset, length)
        try:
            first = await anext(cold)  # PathNotFound here: on neither tier
            self._cold_read(path)
            yield first
            async for chunk in cold:
                yield chunk
        except StopAsyncIteration:
            return
        finally:
            await _close(cold)

    def local_path(self, path: str) -> str | None:
        """Hot's file when it is there (a cold blob is streamed by `reader`)."""
        found = self.hot.local_path(path)
        return found if found is not None and os.path.isfile(found) else None

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """Hot's presigned URL for a hot blob; for a cold one, cold's (a recall starts
        in recall mode), or None to stream it. The stat costs one HEAD, paid only by
        a registry that both tiers and redirects."""
        url = await self.hot.redirect_url(path, method)
        if url is None:
            return None  # hot never redirects: reads stream (or go by local_path)
        try:
            await self.hot.stat(path)
        except PathNotFound:
            try:
                await self.cold.stat(path)
            except PathNotFound:
                return None  # on neither: the reader's PathNotFound answers
            self._cold_read(path)
            return await self.cold.redirect_url(path, method)
        return url

    # -- recall ------------------------------------------------------------------

    def _cold_read(self, path: str) -> None:
        self.cold_reads += 1
        if self.mode == "recall":
            self.recall_soon(path)

    def recall_soon(self, path: str) -> None:
        """Copy a cold blob back to hot in the background (once at a time per blob)."""
        digest = layout.digest_of(path)
        if digest is None or digest in self._recalling:
            return
        task = asyncio.get_running_loop().create_task(self._recall(digest, path))
        self._recalling[digest] = task
        task.add_done_callback(lambda _: self._recalling.pop(digest, None))

    async def _recall(self, digest: str, path: str) -> None:
        async with self._recall_slots:
            try:
                size = (await self.cold.stat(path)).size
                with contextlib.suppress(PathNotFound):
                    await self.hot.stat(path)
                    return  # already back (another replica, a re-push)
                await copy_blob(self.cold, self.hot, digest, size)
                self.recalled += 1
                log.info("recalled %s (%d bytes) from the cold tier", digest, size)
            except Exception as e:  # the blob stays cold and streams: the next read retries
                self.recall_failures += 1
                log.warning("recalling %s from the cold tier failed: %s", digest, e)

    async def recalls_done(self) -> None:
        """Wait for the recalls in flight (tests, shutdown)."""
        while self._recalling:
            await asyncio.gather(*self._recalling.values(), return_exceptions=True)

    # -- writes: hot ---------------------------------------------------------------

    async def put_content(self, path: str, data: bytes) -> None:
        await self.hot.put_content(path, data)

    async def writer(self, path: str, offset: int = 0) -> FileWriter:
        return await self.hot.writer(path, offset)

    async def move(self, src: str, dst: str) -> None:
        await self.hot.move(src, dst)

    # -- both tiers ----------------------------------------------------------------

    async def delete(self, path: str) -> None:
        found = False
        for tier in (self.hot, self.cold):
            try:
                await tier.delete(path)
                found = True
            except PathNotFound:
                pass
        if not found:
            raise PathNotFound(path)

    async def delete_many(self, paths: Sequence[str]) -> None:
        failed: list[str] = []
        reasons: list[str] = []
        for tier in (self.hot, self.cold):
            try:
                await tier.delete_many(paths)
            except DeleteFailed as e:
                failed.extend(p for p in e.paths if p not in failed)
                reasons.append(str(e))
        if failed:
            raise DeleteFailed(failed, "; ".join(reasons))

    async def list(self, prefix: str) -> list[str]:
        found: set[str] = set()
        missing = 0
        for tier in (self.hot, self.cold):
            try:
                found.update(await tier.list(prefix))
            except PathNotFound:
                missing += 1
        if missing == 2:
            raise PathNotFound(prefix)
        return sorted(found)

    async def ping(self) -> None:
        await self.hot.ping()
        await self.cold.ping()
