"""Blob bodies: streamed from the storage driver, with single-range support.

Two ways to send a whole blob, chosen per request by measurement (see
docs/operations.md): streaming 1 MiB `pread`s (done in a thread) as body
chunks moves one blob fastest (2.6-3.7 GB/s against 2.0-2.4 GB/s for
granian's ASGI `pathsend` on the benchmark machine), but every byte passes
through the worker's one Python thread; `pathsend` hands the file to the
server's native threads, which scale across cores when many clients pull at
once. So a worker streams while it has fewer than `server.stream_slots` blob
bodies in flight and uses `pathsend` beyond that. Range requests (one range;
several are answered with the whole blob, as RFC 9110 allows) read only that
range.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for one satisfiable range; None for no (or an ignored)
    Range; RangeNotSatisfiable when it cannot be satisfied."""
    if not header or "," in header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise RangeNotSatisfiable
        return max(size - n, 0), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


class StreamSlots:
    """Counts blob bodies this worker is streaming itself."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def available(self) -> bool:
        return self.active < self.limit


class BlobBody:
    """A minimal ASGI response: headers, then the driver's chunks as they come."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        chunks: AsyncIterator[bytes] | None,
        path: str | None = None,
        slots: StreamSlots | None = None,
    ) -> None:
        self.status = status
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.chunks = chunks
        self.path = path
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if self.path is not None:
            await send({"type": "http.response.pathsend", "path": self.path})
            return
        assert self.chunks is not None
        if self.slots is not None:
            self.slots.active += 1
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            if self.slots is not None:
                self.slots.active -= 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})
