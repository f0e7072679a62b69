"""A Cache that counts hits and misses of another one, whatever its backend."""

from __future__ import annotations

from typing import Any, Protocol

from dockyard.cache.base import Cache


class Tally(Protocol):
    def inc(self) -> None: ...


class CountingCache:
    def __init__(self, inner: Cache, hits: Tally, misses: Tally) -> None:
        self.inner = inner
        self._hit = hits.inc
        self._miss = misses.inc

    async def token(self, scope: str) -> bytes:
        return await self.inner.token(scope)

    async def get(self, scope: str, key: str) -> Any | None:
        value = await self.inner.get(scope, key)
        if value is None:
            self._miss()
        else:
            self._hit()
        return value

    async def put(self, scope: str, key: str, value: Any, token: bytes, size: int) -> None:
        await self.inner.put(scope, key, value, token, size)

    async def invalidate(self, scope: str) -> None:
        await self.inner.invalidate(scope)
