"""Pull statistics per artifact (repository, manifest digest): pull count and last pull.

What counts as a pull: a manifest GET answered 200 (by tag or by digest). A HEAD is
not a pull (clients HEAD to check whether they already have an image), nor is a
blob GET (a pull of a manifest already says which artifact was used; counting layers
would count one `docker pull` many times).

The pull path pays one dict update: `count()` is synchronous and never awaits. Each
process keeps its own tallies and flushes them in one transaction (the store adds
them to `artifact_pulls`, with one `artifact.pulled` event per artifact in the same
transaction) every `interval` seconds, as soon as `max_entries` artifacts are
pending, and at shutdown. A flush that fails puts its tallies back to be retried
with the next one; a process killed between flushes loses at most `interval`
seconds of counts (statistics, not records: nothing else depends on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from time import time
from typing import Protocol

from dockyard.metadata.sql_pulls import PullTally

log = logging.getLogger(__name__)

MAX_TAGS = 16
"""tags remembered per artifact per flush (an event's detail stays small)"""


class PullStore(Protocol):
    async def record_pulls(self, tallies: list[PullTally]) -> int: ...


@dataclass(slots=True)
class _Pending:
    count: int = 0
    last: float = 0.0
    """time.time() of the last pull (a datetime is made at the flush, not per pull)"""
    tags: set[str] = field(default_factory=set)


class PullCounter:
    def __init__(self, store: PullStore, *, interval: float = 5.0, max_entries: int = 1000) -> None:
        self._store = store
        self.interval = interval
        self.max_entries = max_entries
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.flushed = 0
        """artifacts written by this process's flushes so far (tests, metrics)"""

    def count(self, repository: str, digest: str, tag: str | None) -> None:
        """One successful manifest GET. The hot path: no I/O, no await."""
        key = (repository, digest)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = _Pending()
            if len(self._pending) >= self.max_entries:
                self._wake.set()
        entry.count += 1
        entry.last = time()
        if tag is not None and len(entry.tags) < MAX_TAGS:
            entry.tags.add(tag)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what is pending now, in one transaction; return the artifacts written."""
        async with self._lock:
            taken, self._pending = self._pending, {}
            if not taken:
                return 0
            tallies = [
                PullTally(
                    repo,
                    digest,
                    e.count,
                    dt.datetime.fromtimestamp(e.last, dt.UTC),
                    tuple(sorted(e.tags)),
                )
                for (repo, digest), e in taken.items()
            ]
            try:
                written = await self._store.record_pulls(tallies)
            except BaseException:
                self._restore(taken)
                raise
            self.flushed += written
            return written

    def _restore(self, taken: dict[tuple[str, str], _Pending]) -> None:
        for key, old in taken.items():
            now = self._pending.get(key)
            if now is None:
                self._pending[key] = old
            else:
                now.count += old.count
                now.last = max(now.last, old.last)
                now.tags |= old.tags

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dockyard-pull-flush")

    async def stop(self) -> None:
        """Stop the periodic flush, then flush what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("the last flush of pull statistics failed; %d lost", self.pending)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("flushing pull statistics failed; kept for the next flush")
