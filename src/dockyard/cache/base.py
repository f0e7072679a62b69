"""The cache protocol: generation-checked entries, invalidated per scope.

A reader takes a `token` for the scope *before* it reads the database and
stores what it read under that token; an entry is served only while the
scope's token is unchanged. A writer calls `invalidate(scope)` after its
transaction commits and before it answers the client, so no reader can be
served an entry filled before that write once the write is acknowledged.
"""

from __future__ import annotations

from typing import Any, Protocol


class Cache(Protocol):
    async def token(self, scope: str) -> bytes: ...

    async def get(self, scope: str, key: str) -> Any | None: ...

    async def put(self, scope: str, key: str, value: Any, token: bytes, size: int) -> None: ...

    async def invalidate(self, scope: str) -> None: ...


class NullCache:
    """No caching at all (cache.enabled: false)."""

    async def token(self, scope: str) -> bytes:
        return b""

    async def get(self, scope: str, key: str) -> Any | None:
        return None

    async def put(self, scope: str, key: str, value: Any, token: bytes, size: int) -> None:
        return None

    async def invalidate(self, scope: str) -> None:
        return None
