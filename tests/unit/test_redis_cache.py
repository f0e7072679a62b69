"""RedisCache against the Redis server these machines run (127.0.0.1:6379)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from dockyard.cache.redis import RedisCache
from dockyard.metadata.records import ManifestRecord
from dockyard.registry.cache_codec import ManifestRecordCodec
from tests.support.server import free_port

URL = os.environ.get("DOCKYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def record(n: int = 1) -> ManifestRecord:
    content = b'{"schemaVersion":2,"n":%d}' % n
    return ManifestRecord(
        f"sha256:{n:064x}",
        "application/vnd.oci.image.manifest.v1+json",
        len(content),
        content,
        "a/b",
        None,
        '{"k":"v"}',
    )


@pytest.fixture
def scope() -> str:
    return f"test/{uuid.uuid4().hex}"


@pytest.fixture
async def cache() -> AsyncIterator[RedisCache]:
    c = RedisCache(URL, codec=ManifestRecordCodec(), max_entries=100, max_bytes=1 << 20, ttl=60)
    yield c
    await c.close()


@pytest.fixture
async def other() -> AsyncIterator[RedisCache]:
    """A second replica's cache."""
    c = RedisCache(URL, codec=ManifestRecordCodec(), max_entries=100, max_bytes=1 << 20, ttl=60)
    yield c
    await c.close()


async def test_fill_and_hit(cache: RedisCache, scope: str) -> None:
    assert await cache.get(scope, "v1") is None
    token = await cache.token(scope)
    await cache.put(scope, "v1", record(), token, 100)
    assert await cache.get(scope, "v1") == record()


async def test_invalidation_reaches_other_replicas(
    cache: RedisCache, other: RedisCache, scope: str
) -> None:
    token = await cache.token(scope)
    await cache.put(scope, "v1", record(1), token, 100)
    assert await other.get(scope, "v1") == record(1)  # shared: warmed by the first replica
    await other.invalidate(scope)
    assert await cache.get(scope, "v1") is None  # its local copy is stale now
    assert await other.get(scope, "v1") is None


async def test_fill_racing_a_write_is_never_served(cache: RedisCache, scope: str) -> None:
    token = await cache.token(scope)  # reader takes the token, then reads the old row ...
    await cache.invalidate(scope)  # ... a writer commits and invalidates ...
    await cache.put(scope, "v1", record(1), token, 100)  # ... the reader stores what it read
    assert await cache.get(scope, "v1") is None


async def test_evicted_generation_does_not_revive_old_entries(
    cache: RedisCache, other: RedisCache, scope: str
) -> None:
    token = await cache.token(scope)
    await cache.put(scope, "v1", record(1), token, 100)
    await cache._redis.delete(f"dockyard:gen:{scope}")  # Redis evicted the generation key
    assert await other.get(scope, "v1") is None
    assert await other.token(scope) != token


async def test_scopes_are_independent(cache: RedisCache, scope: str) -> None:
    token = await cache.token(scope)
    await cache.put(scope, "v1", record(1), token, 100)
    await cache.invalidate(scope + "-other")
    assert await cache.get(scope, "v1") == record(1)


async def test_oversize_not_cached(scope: str) -> None:
    c = RedisCache(URL, codec=ManifestRecordCodec(), max_entries=100, max_bytes=16 * 1024, ttl=60)
    try:
        await c.put(scope, "big", record(), await c.token(scope), 4096)
        assert await c.get(scope, "big") is None
    finally:
        await c.close()


async def test_unreachable_redis_degrades_reads_and_fails_writes(scope: str) -> None:
    c = RedisCache(
        f"redis://127.0.0.1:{free_port()}/0",
        codec=ManifestRecordCodec(),
        max_entries=10,
        max_bytes=1 << 20,
        ttl=60,
    )
    try:
        token = await c.token(scope)
        await c.put(scope, "v1", record(), token, 100)  # no error, nothing cached
        assert await c.get(scope, "v1") is None
        with pytest.raises(RuntimeError, match="invalidation failed"):
            await c.invalidate(scope)
    finally:
        await c.close()


async def test_garbage_in_redis_is_a_miss(cache: RedisCache, scope: str) -> None:
    await cache.token(scope)
    await cache._redis.set(f"dockyard:m:{scope}\x00v1", b"not json")
    assert await cache.get(scope, "v1") is None
