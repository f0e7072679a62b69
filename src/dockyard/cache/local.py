"""In-process cache whose invalidations reach every worker on the host.

Generations live in a small shared file mapped into each worker's memory: one
8-byte slot per hash bucket of scope names. Invalidating writes a fresh random
value into the scope's slot (a single aligned store, so no lock is needed);
checking an entry is one memory read. Entries also expire after `ttl` seconds,
which bounds staleness if a process dies between commit and invalidation.
"""

from __future__ import annotations

import mmap
import os
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

SLOTS = 1 << 16
SLOT_SIZE = 8


class LocalCache:
    def __init__(
        self, generation_file: Path, *, max_entries: int, max_bytes: int, ttl: float
    ) -> None:
        generation_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(generation_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SLOTS * SLOT_SIZE:
                os.ftruncate(fd, SLOTS * SLOT_SIZE)
            self._map = mmap.mmap(fd, SLOTS * SLOT_SIZE)
        finally:
            os.close(fd)
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, float, int, Any]] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _slot(scope: str) -> int:
        return (zlib.crc32(scope.encode()) & (SLOTS - 1)) * SLOT_SIZE

    def _token(self, scope: str) -> bytes:
        off = self._slot(scope)
        return self._map[off : off + SLOT_SIZE]

    async def token(self, scope: str) -> bytes:
        return self._token(scope)

    async def get(self, scope: str, key: str) -> Any | None:
        entry = self._entries.get((scope, key))
        if entry is not None:
            token, expires, _, value = entry
            if token == self._token(scope) and expires > time.monotonic():
                self.hits += 1
                self._entries.move_to_end((scope, key))
                return value
            self._drop((scope, key))
        self.misses += 1
        return None

    async def put(self, scope: str, key: str, value: Any, token: bytes, size: int) -> None:
        k = (scope, key)
        self._drop(k)  # even when the new value is too big: never serve the older one
        if size > self._max_bytes // 16:
            return
        self._entries[k] = (token, time.monotonic() + self._ttl, size, value)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    async def invalidate(self, scope: str) -> None:
        off = self._slot(scope)
        self._map[off : off + SLOT_SIZE] = os.urandom(SLOT_SIZE)

    def close(self) -> None:
        self._map.close()
