"""Running out of disk: recognising it, answering it, and reporting it.

A full data disk shows up as OSError ENOSPC/EDQUOT from the filesystem driver
(translated to StorageFull there), as SQLite's "database or disk is full"
(SQLITE_FULL) or PostgreSQL's disk_full (SQLSTATE 53100) from the metadata store.
None of them is a bug: the request gets a retryable 503 (`Unavailable`, with
Retry-After), the condition is logged once per episode without a traceback, and
/readyz reports it until space is back (`SpaceWatch`).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from dockyard.errors import Unavailable
from dockyard.storage.base import StorageFull

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"
RETRY_AFTER_SECONDS = 60
PROBE_BYTES = 64 * 1024


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
        todo.extend(
            [item.__cause__, item.__context__, orig if isinstance(orig, BaseException) else None]
        )


def is_no_space(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the disk or the quota is full."""
    for item in _chain(exc):
        if isinstance(item, StorageFull):
            return True
        if isinstance(item, OSError) and item.errno in NO_SPACE_ERRNOS:
            return True
        if isinstance(item, sqlite3.Error) and (
            getattr(item, "sqlite_errorcode", None) == _SQLITE_FULL
            or "database or disk is full" in str(item)
        ):
            return True
        if getattr(item, "sqlstate", None) == _PG_DISK_FULL:
            return True
    return False


def unavailable() -> Unavailable:
    return Unavailable(
        "the registry's storage is full: try again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


class SpaceWatch:
    """Whether the disks holding data (storage root, SQLite's folder) have room.

    `/readyz` asks `problem()`: a statvfs per folder, failing below `min_free_bytes`;
    after a write failed for lack of space (`full()`), also a small probe write, which
    catches a quota or a limit statvfs does not show. The flag clears, and a line says
    so, once the probe succeeds."""

    def __init__(self, folders: Sequence[Path], min_free_bytes: int) -> None:
        self._folders = [f for f in folders if f.is_dir()]
        self._min_free = min_free_bytes
        self._full = False
        self._lock = threading.Lock()

    def full(self, exc: BaseException, where: str) -> None:
        """A write failed for lack of space: log it (once per episode) and remember."""
        with self._lock:
            first, self._full = not self._full, True
        if first:
            log.error(
                "no space left for %s (%s): answering 503 until space is freed",
                where,
                _describe(exc),
            )
        else:
            log.info("no space left for %s", where)

    def problem(self) -> str | None:
        for folder in self._folders:
            try:
                st = os.statvfs(folder)
            except OSError:
                continue
            free = st.f_bavail * st.f_frsize
            if free < self._min_free:
                return f"{free} bytes free on {folder} (less than {self._min_free})"
        if self._full:
            for folder in self._folders:
                reason = self._probe(folder)
                if reason is not None:
                    return reason
            with self._lock:
                self._full = False
            log.warning("space is available again: accepting writes")
        return None

    @staticmethod
    def _probe(folder: Path) -> str | None:
        probe = folder / f".space-probe-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * PROBE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno not in NO_SPACE_ERRNOS:
                raise
            return f"no space left on {folder}"
        finally:
            probe.unlink(missing_ok=True)
        return None


async def unless_full(call: Awaitable[T], what: str) -> T | None:
    """Await bookkeeping that may be lost while the disk is full (a login's
    timestamp, a failed login's throttling count): None, and a line, if it was."""
    try:
        return await call
    except Exception as exc:
        if not is_no_space(exc):
            raise
        log.warning("%s not recorded, no space left: %s", what, _describe(exc))
        return None
