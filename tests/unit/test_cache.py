"""LocalCache: generation-checked entries, TTL, LRU bounds, and invalidations
that reach every process sharing the generation file."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.cache.base import NullCache
from dockyard.cache.local import LocalCache

MiB = 1 << 20


def make(tmp_path: Path, **kw: Any) -> LocalCache:
    options: dict[str, Any] = {"max_entries": 1000, "max_bytes": 16 * MiB, "ttl": 300.0}
    options.update(kw)
    return LocalCache(tmp_path / "cache" / "generations", **options)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[LocalCache]:
    c = make(tmp_path)
    yield c
    c.close()


async def fill(c: LocalCache, scope: str, key: str, value: Any, size: int = 10) -> None:
    await c.put(scope, key, value, await c.token(scope), size)


def test_scopes_used_here_do_not_share_a_slot() -> None:
    assert LocalCache._slot("repo-a") != LocalCache._slot("repo-b")
    assert LocalCache._slot("repo") != LocalCache._slot("other")


# -- token / get / put / invalidate ------------------------------------------------


async def test_put_then_get(cache: LocalCache) -> None:
    assert await cache.get("repo-a", "k") is None
    await fill(cache, "repo-a", "k", {"digest": "sha256:x"})
    assert await cache.get("repo-a", "k") == {"digest": "sha256:x"}
    assert await cache.get("repo-a", "other") is None
    assert await cache.get("repo-b", "k") is None
    assert (cache.hits, cache.misses) == (1, 3)


async def test_token_is_stable_until_invalidated(cache: LocalCache) -> None:
    t1 = await cache.token("repo-a")
    assert await cache.token("repo-a") == t1
    assert len(t1) == 8
    await cache.invalidate("repo-a")
    t2 = await cache.token("repo-a")
    assert t2 != t1
    await cache.invalidate("repo-a")
    assert await cache.token("repo-a") not in (t1, t2)


async def test_invalidate_drops_the_scope_only(cache: LocalCache) -> None:
    await fill(cache, "repo-a", "k1", 1)
    await fill(cache, "repo-a", "k2", 2)
    await fill(cache, "repo-b", "k1", 3)
    await cache.invalidate("repo-a")
    assert await cache.get("repo-a", "k1") is None
    assert await cache.get("repo-a", "k2") is None
    assert await cache.get("repo-b", "k1") == 3


async def test_put_with_a_token_taken_before_a_write_is_never_served(cache: LocalCache) -> None:
    # reader: token, then reads the database (old value) ...
    token = await cache.token("repo-a")
    # ... meanwhile a writer commits and invalidates ...
    await cache.invalidate("repo-a")
    # ... then the reader stores what it read under its old token
    await cache.put("repo-a", "k", "stale", token, 10)
    assert await cache.get("repo-a", "k") is None


async def test_put_replaces(cache: LocalCache) -> None:
    await fill(cache, "repo-a", "k", "one")
    await fill(cache, "repo-a", "k", "two")
    assert await cache.get("repo-a", "k") == "two"


async def test_ttl_expiry(tmp_path: Path) -> None:
    c = make(tmp_path, ttl=0.3)
    try:
        await fill(c, "repo-a", "k", "v")
        assert await c.get("repo-a", "k") == "v"
        await asyncio.sleep(0.5)
        assert await c.get("repo-a", "k") is None
    finally:
        c.close()


# -- bounds ---------------------------------------------------------------------------


async def test_lru_entry_bound(tmp_path: Path) -> None:
    c = make(tmp_path, max_entries=3)
    try:
        for k in "abc":
            await fill(c, "s", k, k)
        assert await c.get("s", "a") == "a"  # a is now the most recently used
        await fill(c, "s", "d", "d")  # evicts b, the least recently used
        assert await c.get("s", "b") is None
        assert [await c.get("s", k) for k in "acd"] == ["a", "c", "d"]
    finally:
        c.close()


async def test_lru_byte_bound(tmp_path: Path) -> None:
    c = make(tmp_path, max_bytes=1600)  # entries up to 1600 // 16 = 100 bytes
    try:
        for i in range(16):
            await fill(c, "s", f"k{i}", i, size=100)
        assert all([await c.get("s", f"k{i}") == i for i in range(16)])
        await fill(c, "s", "k16", 16, size=100)
        assert await c.get("s", "k0") is None
        assert all([await c.get("s", f"k{i}") == i for i in range(1, 17)])
    finally:
        c.close()


async def test_replacing_an_entry_does_not_leak_bytes(tmp_path: Path) -> None:
    c = make(tmp_path, max_bytes=1600)
    try:
        for _ in range(50):
            await fill(c, "s", "same", "v", size=100)
        for i in range(15):
            await fill(c, "s", f"k{i}", i, size=100)
        assert await c.get("s", "same") == "v"
        assert all([await c.get("s", f"k{i}") == i for i in range(15)])
    finally:
        c.close()


async def test_oversize_entry_not_cached(tmp_path: Path) -> None:
    c = make(tmp_path, max_bytes=1600)
    try:
        await fill(c, "s", "small", "s", size=100)
        await fill(c, "s", "big", "b", size=101)
        assert await c.get("s", "big") is None
        assert await c.get("s", "small") == "s"
    finally:
        c.close()


async def test_oversize_put_does_not_keep_older_value(tmp_path: Path) -> None:
    c = make(tmp_path, max_bytes=1600)
    try:
        await fill(c, "s", "k", "old", size=10)
        await fill(c, "s", "k", "new but huge", size=10_000)
        assert await c.get("s", "k") is None
    finally:
        c.close()


# -- sharing the generation file ----------------------------------------------------


async def test_two_instances_share_generations(tmp_path: Path) -> None:
    a, b = make(tmp_path), make(tmp_path)
    try:
        await fill(a, "repo-a", "k", "v")
        await fill(a, "repo-b", "k", "w")
        assert await b.token("repo-a") == await a.token("repo-a")
        await b.invalidate("repo-a")
        assert await a.get("repo-a", "k") is None
        assert await a.get("repo-b", "k") == "w"
    finally:
        a.close()
        b.close()


async def test_existing_generation_file_is_reused(tmp_path: Path) -> None:
    a = make(tmp_path)
    await a.invalidate("repo-a")
    token = await a.token("repo-a")
    a.close()
    b = make(tmp_path)
    try:
        assert await b.token("repo-a") == token
    finally:
        b.close()


def _process_a(gen_file: str, cached: Any, invalidated: Any, results: Any) -> None:
    async def main() -> None:
        c = LocalCache(Path(gen_file), max_entries=100, max_bytes=16 * MiB, ttl=300)
        await c.put("repo", "k", "v", await c.token("repo"), 10)
        await c.put("other", "k", "w", await c.token("other"), 10)
        results.put(("before", await c.get("repo", "k")))
        cached.set()
        if not invalidated.wait(60):
            results.put(("timeout", None))
            return
        results.put(("after", await c.get("repo", "k")))
        results.put(("other scope", await c.get("other", "k")))
        c.close()

    asyncio.run(main())


def _process_b(gen_file: str, cached: Any, invalidated: Any) -> None:
    async def main() -> None:
        c = LocalCache(Path(gen_file), max_entries=100, max_bytes=16 * MiB, ttl=300)
        await c.invalidate("repo")
        c.close()

    if cached.wait(60):
        asyncio.run(main())
        invalidated.set()


def test_invalidation_reaches_another_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    gen_file = str(tmp_path / "generations")
    cached, invalidated = ctx.Event(), ctx.Event()
    results = ctx.Queue()
    a = ctx.Process(target=_process_a, args=(gen_file, cached, invalidated, results))
    b = ctx.Process(target=_process_b, args=(gen_file, cached, invalidated))
    a.start()
    b.start()
    try:
        got: dict[str, Any] = {}
        while len(got) < 3:
            try:
                name, value = results.get(timeout=90)
            except queue.Empty:
                pytest.fail(f"process A reported only {got}")
            assert name != "timeout", "process B never invalidated"
            got[name] = value
        b.join(30)
        a.join(30)
        assert (a.exitcode, b.exitcode) == (0, 0)
        assert got == {"before": "v", "after": None, "other scope": "w"}
    finally:
        for p in (a, b):
            if p.is_alive():
                p.kill()
                p.join()


# -- NullCache ---------------------------------------------------------------------


async def test_null_cache_caches_nothing() -> None:
    c = NullCache()
    await c.put("s", "k", "v", await c.token("s"), 1)
    assert await c.get("s", "k") is None
    await c.invalidate("s")
