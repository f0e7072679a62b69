"""Cached identity lookups for the request path (users, robots, projects, memberships).

Every change made through the identity store invalidates one shared cache scope,
`identity`, after its transaction commits; a cached lookup is served only while
that scope's generation is the one it was read under. So a revoked robot, a
disabled user or a project made private is refused by every worker and replica
sharing the cache (the host-local generation file on SQLite, Redis otherwise) as
soon as the change has been answered. Without a shared cache nothing is cached.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dockyard.cache.base import Cache, NullCache

if TYPE_CHECKING:
    from dockyard.metadata.identity import MemberRecord, ProjectRecord, RobotRecord, UserRecord

SCOPE = "identity"
MAX_HELD = 20_000

P = ParamSpec("P")
R = TypeVar("R")


def changes_identity(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Invalidate the cached lookups once the wrapped change has run (or failed: a
    conflict changes nothing, and invalidating anyway is cheap)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        finally:
            await args[0]._identity_changed()  # type: ignore[attr-defined]

    return wrapper


class CachedLookups:
    """Mixed into the SQL identity store: the `cached_*` lookups and the invalidation."""

    def __init__(self, cache: Cache | None) -> None:
        self._cache = None if isinstance(cache, NullCache) else cache
        self._held: OrderedDict[tuple[Any, ...], tuple[bytes, Any]] = OrderedDict()

    async def _identity_changed(self) -> None:
        self._held.clear()
        if self._cache is not None:
            await self._cache.invalidate(SCOPE)

    async def _lookup(self, key: tuple[Any, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        if self._cache is None:
            return await load()
        token = await self._cache.token(SCOPE)  # taken before the read, as Cache requires
        held = self._held.get(key)
        if held is not None and held[0] == token:
            return held[1]
        value = await load()
        if value is None and key[0] == "project":
            # a project also comes into being with a push (the registry store creates
            # it, not this one): never remember that one was missing
            return None
        self._held[key] = (token, value)
        if len(self._held) > MAX_HELD:
            self._held.popitem(last=False)
        return value

    async def cached_user(self, username: str) -> UserRecord | None:
        return await self._lookup(("user", username), lambda: self.get_user(username))  # type: ignore[attr-defined, no-any-return]

    async def cached_robot(self, name: str) -> RobotRecord | None:
        return await self._lookup(("robot", name), lambda: self.get_robot(name))  # type: ignore[attr-defined, no-any-return]

    async def cached_project(self, name: str) -> ProjectRecord | None:
        return await self._lookup(("project", name), lambda: self.get_project(name))  # type: ignore[attr-defined, no-any-return]

    async def cached_memberships(
        self, username: str, groups: Sequence[str], project: str
    ) -> list[MemberRecord]:
        key = ("members", username, tuple(groups), project)
        return await self._lookup(key, lambda: self.memberships(username, groups, project))  # type: ignore[attr-defined, no-any-return]
