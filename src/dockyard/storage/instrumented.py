"""A StorageDriver that counts and times the calls it passes to another one.

services.py wraps whichever driver it builds, so drivers stay unaware of
metrics. PathNotFound is an answer (a stat that finds nothing), not an error;
any other exception, StorageError or not, counts as an error of its op.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

from dockyard.metrics import StorageMetrics, StorageOp
from dockyard.storage.base import FileInfo, FileWriter, PathNotFound, StorageDriver

T = TypeVar("T")


async def _timed(op: StorageOp, call: Awaitable[T]) -> T:
    t0 = time.perf_counter()
    try:
        return await call
    except PathNotFound:
        raise
    except Exception:
        op.errors.inc()
        raise
    finally:
        op.count.inc()
        op.duration.observe(time.perf_counter() - t0)


class InstrumentedWriter:
    def __init__(self, inner: FileWriter, ops: dict[str, StorageOp]) -> None:
        self._inner = inner
        self._write = ops["write"]
        self._commit = ops["commit"]
        self._cancel = ops["cancel"]

    @property
    def size(self) -> int:
        return self._inner.size

    async def write(self, data: bytes) -> None:
        await _timed(self._write, self._inner.write(data))

    async def commit(self) -> None:
        await _timed(self._commit, self._inner.commit())

    async def cancel(self) -> None:
        await _timed(self._cancel, self._inner.cancel())

    async def close(self) -> None:
        await self._inner.close()


class InstrumentedDriver:
    def __init__(
        self, inner: StorageDriver, metrics: StorageMetrics, label: str | None = None
    ) -> None:
        """`label` names the backend in the metrics (default: the driver's name)."""
        self.name = inner.name
        self.inner = inner
        self._ops = ops = metrics.bind(label or inner.name)
        self._stat = ops["stat"]
        self._read = ops["read"]

    async def stat(self, path: str) -> FileInfo:
        return await _timed(self._stat, self.inner.stat(path))

    async def get_content(self, path: str) -> bytes:
        return await _timed(self._ops["get_content"], self.inner.get_content(path))

    async def put_content(self, path: str, data: bytes) -> None:
        await _timed(self._ops["put_content"], self.inner.put_content(path, data))

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        op = self._read
        t0: float | None = time.perf_counter()
        chunks = self.inner.reader(path, offset, length)
        try:
            async for chunk in chunks:
                if t0 is not None:
                    op.duration.observe(time.perf_counter() - t0)
                    t0 = None
                yield chunk
        except PathNotFound:
            raise
        except Exception:
            op.errors.inc()
            raise
        finally:
            op.count.inc()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:  # an early stop closes the inner reader now, not at GC
                await aclose()

    async def writer(self, path: str, offset: int = 0) -> FileWriter:
        inner = await _timed(self._ops["writer"], self.inner.writer(path, offset))
        return InstrumentedWriter(inner, self._ops)

    async def move(self, src: str, dst: str) -> None:
        await _timed(self._ops["move"], self.inner.move(src, dst))

    async def delete(self, path: str) -> None:
        await _timed(self._ops["delete"], self.inner.delete(path))

    async def delete_many(self, paths: Sequence[str]) -> None:
        await _timed(self._ops["delete_many"], self.inner.delete_many(paths))

    async def list(self, prefix: str) -> list[str]:
        return await _timed(self._ops["list"], self.inner.list(prefix))

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(path)

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return await _timed(self._ops["redirect_url"], self.inner.redirect_url(path, method))

    async def ping(self) -> None:
        await _timed(self._ops["ping"], self.inner.ping())
