"""One tiering pass (the `tiering.run` job): settle, cool, warm.

1. settle: a cold blob that is hot again (recalled on a read, re-pushed, restored)
   loses its cold copy and its row;
2. cool: hot blobs whose rule they have outlived are copied to cold (verified), then
   recorded, then deleted from hot — a blob is whole on at least one tier throughout,
   and a pass killed anywhere leaves at worst a second copy the next pass settles;
3. warm: cold blobs some manifest keeps hot again (pulled within its rule's days, a
   rule removed) are copied back to hot, then lose their cold copy and row.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass

from dockyard.metadata.engine import utcnow
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageError
from dockyard.storage.tiered import TieredDriver
from dockyard.storage.transfer import BlobMismatch, copy_blob
from dockyard.tiering.settings import TieringSettings
from dockyard.tiering.store import TieringStore

log = logging.getLogger(__name__)
PAGE = 1000


@dataclass(slots=True)
class Pass:
    cooled: int = 0
    cooled_bytes: int = 0
    warmed: int = 0
    warmed_bytes: int = 0
    settled: int = 0
    failed: int = 0
    """blobs a step could not move (left where they were; the next pass retries)"""

    def public(self) -> dict[str, int]:
        return asdict(self)


async def _each(
    items: Iterable[tuple[str, int]],
    step: Callable[[str, int], Awaitable[None]],
    concurrency: int,
) -> None:
    queue = list(items)

    async def lane() -> None:
        while queue:
            digest, size = queue.pop(0)
            await step(digest, size)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(lane())


class Mover:
    def __init__(
        self,
        storage: TieredDriver,
        store: TieringStore,
        settings: TieringSettings,
        log_line: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.hot = storage.hot
        self.cold = storage.cold
        self.store = store
        self.settings = settings
        self.done = Pass()
        self._log = log_line

    async def _say(self, line: str) -> None:
        log.info("tiering: %s", line)
        if self._log is not None:
            await self._log(line)

    def _failed(self, what: str, digest: str, e: Exception) -> None:
        self.done.failed += 1
        log.warning("tiering: %s %s failed: %s", what, digest, e)

    async def run(self) -> Pass:
        limit = self.settings.max_blobs_per_run
        await self.settle()
        now = utcnow()
        cutoffs = await self.store.cutoffs(now)
        days = self.settings.default_cold_after_days
        default = now - dt.timedelta(days=days) if days is not None else None
        cool = await self.store.to_cool(cutoffs, default, self.settings.min_blob_bytes, limit)
        await _each(cool, self.cool, self.settings.concurrency)
        warm = await self.store.to_warm(cutoffs, default, limit)
        await _each(warm, self.warm, self.settings.concurrency)
        d = self.done
        await self._say(
            f"{d.cooled} blobs ({d.cooled_bytes} bytes) moved cold, {d.warmed} "
            f"({d.warmed_bytes} bytes) back hot, {d.settled} cold copies dropped, "
            f"{d.failed} failed"
        )
        return d

    # -- the steps ----------------------------------------------------------------------

    async def settle(self) -> None:
        after = ""
        while page := await self.store.cold_page(after, PAGE):
            after = page[-1][0]
            await _each(page, self._settle_one, self.settings.concurrency)

    async def _settle_one(self, digest: str, size: int) -> None:
        path = layout.blob_path(digest)
        try:
            found = await self.hot.stat(path)
        except PathNotFound:
            return  # cold, as recorded
        except StorageError as e:
            self._failed("checking", digest, e)
            return
        if found.size != size:
            return  # a partial hot copy is no copy: the cold one stays
        try:
            await self.cold.delete_many([path])
            await self.store.unmark(digest)
        except StorageError as e:
            self._failed("dropping the cold copy of", digest, e)
            return
        self.done.settled += 1

    async def cool(self, digest: str, size: int) -> None:
        path = layout.blob_path(digest)
        try:
            await copy_blob(self.hot, self.cold, digest, size)
        except PathNotFound:
            # not hot: a pass that died after its copy left it whole on cold?
            try:
                if (await self.cold.stat(path)).size != size:
                    raise PathNotFound(path)
            except (PathNotFound, StorageError) as e:
                self._failed("moving", digest, e)
                return
        except (StorageError, BlobMismatch) as e:
            self._failed("moving", digest, e)
            return
        if not await self.store.mark_cold(digest, size):
            # collected meanwhile: the copy just made is the collector's to miss
            with contextlib.suppress(StorageError):
                await self.cold.delete_many([path])
            return
        try:
            await self.hot.delete_many([path])
        except StorageError as e:  # both tiers hold it; the next pass settles it
            self._failed("deleting the hot copy of", digest, e)
            return
        self.done.cooled += 1
        self.done.cooled_bytes += size

    async def warm(self, digest: str, size: int) -> None:
        path = layout.blob_path(digest)
        try:
            await copy_blob(self.cold, self.hot, digest, size)
            # the row goes last: killed before it, the next pass's settle drops it
            await self.cold.delete_many([path])
            await self.store.unmark(digest)
        except (StorageError, BlobMismatch) as e:
            self._failed("bringing back", digest, e)
            return
        self.done.warmed += 1
        self.done.warmed_bytes += size
