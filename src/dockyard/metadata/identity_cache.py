"""Cached identity lookups for the request path (users, robots, projects, memberships).

Every change made through the identity stores invalidates one shared cache scope,
`identity`, after its transaction commits; a cached lookup is served only while
that scope's generation is the one it was read under. So a revoked robot, a
disabled user or a project made private is refused by every worker and replica
sharing the cache (the host-local generation file on SQLite, Redis otherwise) as
soon as the change has been answered. Without a shared cache nothing is cached.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from dockyard.cache.base import Cache, NullCache

SCOPE = "identity"
MAX_HELD = 20_000

P = ParamSpec("P")
R = TypeVar("R")


class IdentityCache:
    """One per process, shared by the user, project and robot stores."""

    def __init__(self, cache: Cache | None) -> None:
        self._cache = None if cache is None or isinstance(cache, NullCache) else cache
        self._held: OrderedDict[tuple[Any, ...], tuple[bytes, Any]] = OrderedDict()

    async def changed(self) -> None:
        self._held.clear()
        if self._cache is not None:
            await self._cache.invalidate(SCOPE)

    async def lookup(
        self,
        key: tuple[Any, ...],
        load: Callable[[], Awaitable[Any]],
        *,
        keep_none: bool = True,
    ) -> Any:
        """`load()`, or what it returned under the current generation."""
        if self._cache is None:
            return await load()
        token = await self._cache.token(SCOPE)  # taken before the read, as Cache requires
        held = self._held.get(key)
        if held is not None and held[0] == token:
            return held[1]
        value = await load()
        if value is None and not keep_none:
            return None
        self._held[key] = (token, value)
        if len(self._held) > MAX_HELD:
            self._held.popitem(last=False)
        return value


class Invalidates(Protocol):
    """A store whose changes invalidate the identity lookups."""

    identity_cache: IdentityCache


def changes_identity(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Invalidate the cached lookups once the wrapped change (a method of an
    Invalidates store) has run, or failed: a conflict changes nothing, and
    invalidating anyway is cheap."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        finally:
            await cast(Invalidates, args[0]).identity_cache.changed()

    return wrapper
