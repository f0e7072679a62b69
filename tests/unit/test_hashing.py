"""Resumable upload digests: HasherCache, and catch_up for a hasher that fell
behind because earlier chunks of the upload went to another worker."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from dockyard.registry.hashing import DEFAULT_ALGORITHM, HasherCache, catch_up
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound
from dockyard.storage.memory import MemoryDriver

MiB = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def upload(driver: MemoryDriver, data: bytes, chunk: int = 64 * 1024) -> str:
    """Write `data` to an upload's data key in several writers, as PATCHes would."""
    upload_id = uuid.uuid4().hex
    key = layout.upload_data_path(upload_id)
    for start in range(0, len(data), chunk):
        w = await driver.writer(key, start)
        await w.write(data[start : start + chunk])
        await w.commit()
        await w.close()
    return upload_id


# -- HasherCache ---------------------------------------------------------------------


def test_take_unknown_gives_a_fresh_hasher() -> None:
    cache = HasherCache()
    offset, hasher = cache.take("a" * 32)
    assert offset == 0
    assert hasher.name == DEFAULT_ALGORITHM == "sha256"
    assert hasher.hexdigest() == sha256(b"")


def test_put_then_take() -> None:
    cache = HasherCache()
    h = hashlib.sha256(b"first chunk")
    cache.put("a" * 32, 11, h)
    offset, got = cache.take("a" * 32)
    assert offset == 11
    assert got is h
    # take removes it: a concurrent request for the same upload cannot share it
    offset, fresh = cache.take("a" * 32)
    assert offset == 0 and fresh is not h


def test_discard() -> None:
    cache = HasherCache()
    cache.put("a" * 32, 5, hashlib.sha256(b"12345"))
    cache.discard("a" * 32)
    cache.discard("b" * 32)  # unknown: no error
    assert cache.take("a" * 32)[0] == 0


def test_bounded_lru() -> None:
    cache = HasherCache(max_entries=2)
    for i, uid in enumerate(("a" * 32, "b" * 32, "c" * 32), start=1):
        cache.put(uid, i, hashlib.sha256())
    assert cache.take("a" * 32)[0] == 0  # evicted, the oldest
    assert cache.take("b" * 32)[0] == 2
    assert cache.take("c" * 32)[0] == 3


def test_take_and_put_back_refreshes_position() -> None:
    """The request cycle is take -> hash -> put: an upload in use stays newest."""
    cache = HasherCache(max_entries=2)
    cache.put("a" * 32, 1, hashlib.sha256())
    cache.put("b" * 32, 2, hashlib.sha256())
    _, h = cache.take("a" * 32)
    cache.put("a" * 32, 10, h)  # a is now the newest
    cache.put("c" * 32, 3, hashlib.sha256())  # evicts b
    assert cache.take("b" * 32)[0] == 0
    assert cache.take("a" * 32)[0] == 10


# -- catch_up ------------------------------------------------------------------------


async def test_catch_up_from_storage() -> None:
    driver = MemoryDriver()
    data = os.urandom(3 * MiB + 123)
    upload_id = await upload(driver, data, chunk=MiB)
    # this worker saw only the first chunk; the next ones went to another worker
    hashed = MiB
    hasher = hashlib.sha256(data[:hashed])
    await catch_up(driver, upload_id, hashed, hasher, len(data))
    assert hasher.hexdigest() == sha256(data)


async def test_catch_up_from_nothing() -> None:
    driver = MemoryDriver()
    data = os.urandom(200_000)
    upload_id = await upload(driver, data)
    hasher = hashlib.sha256()
    await catch_up(driver, upload_id, 0, hasher, len(data))
    assert hasher.hexdigest() == sha256(data)


async def test_catch_up_to_an_intermediate_offset_then_continue() -> None:
    driver = MemoryDriver()
    data = os.urandom(500_000)
    upload_id = await upload(driver, data)
    hasher = hashlib.sha256(data[:1000])
    await catch_up(driver, upload_id, 1000, hasher, 300_000)
    hasher.update(data[300_000:])  # then this worker streams the rest itself
    assert hasher.hexdigest() == sha256(data)


async def test_catch_up_reads_only_what_is_missing() -> None:
    driver = MemoryDriver()
    data = os.urandom(1000)
    upload_id = await upload(driver, data)
    reads: list[tuple[int, int | None]] = []
    real_reader = driver.reader

    def spy(path: str, offset: int = 0, length: int | None = None):  # type: ignore[no-untyped-def]
        reads.append((offset, length))
        return real_reader(path, offset, length)

    driver.reader = spy  # type: ignore[method-assign]
    hasher = hashlib.sha256(data[:600])
    await catch_up(driver, upload_id, 600, hasher, 1000)
    assert reads == [(600, 400)]
    assert hasher.hexdigest() == sha256(data)


async def test_catch_up_when_up_to_date_does_not_touch_storage() -> None:
    driver = MemoryDriver()  # the upload has no data at all: any read would fail
    hasher = hashlib.sha256(b"abc")
    await catch_up(driver, "a" * 32, 3, hasher, 3)
    await catch_up(driver, "a" * 32, 3, hasher, 2)
    assert hasher.hexdigest() == sha256(b"abc")


async def test_catch_up_missing_data() -> None:
    driver = MemoryDriver()
    with pytest.raises(PathNotFound):
        await catch_up(driver, "a" * 32, 0, hashlib.sha256(), 10)


async def test_two_workers_alternating_chunks() -> None:
    """PATCHes alternate between two workers, each with its own HasherCache;
    whichever finishes the upload catches up and gets the right digest."""
    driver = MemoryDriver()
    upload_id = uuid.uuid4().hex
    key = layout.upload_data_path(upload_id)
    chunks = [os.urandom(50_000 + i) for i in range(6)]
    workers = [HasherCache(), HasherCache()]
    offset = 0
    for i, chunk in enumerate(chunks):
        cache = workers[i % 2]
        hashed, hasher = cache.take(upload_id)
        await catch_up(driver, upload_id, hashed, hasher, offset)
        w = await driver.writer(key, offset)
        await w.write(chunk)
        hasher.update(chunk)
        await w.commit()
        await w.close()
        offset += len(chunk)
        cache.put(upload_id, offset, hasher)
    final_worker = workers[len(chunks) % 2]
    hashed, hasher = final_worker.take(upload_id)
    await catch_up(driver, upload_id, hashed, hasher, offset)
    assert hasher.hexdigest() == sha256(b"".join(chunks))


async def test_hashing_pool_is_bounded_and_apart_from_the_default_executor() -> None:
    import asyncio
    import threading

    from dockyard.auth.passwords import HashingPool
    from dockyard.errors import TooManyRequests

    pool = HashingPool(threads=1, queue=1)
    release = threading.Event()
    names: list[str] = []

    def held() -> str:
        names.append(threading.current_thread().name)
        release.wait(30)
        return "done"

    first = asyncio.ensure_future(pool.run(held))
    second = asyncio.ensure_future(pool.run(held))
    await asyncio.sleep(0)  # let both take their places (one running, one queued)
    try:
        with pytest.raises(TooManyRequests):
            await pool.run(held)  # a third has no place: refused at once
        # the default executor is free meanwhile
        assert await asyncio.to_thread(lambda: "free") == "free"
    finally:
        release.set()
    assert await first == "done" and await second == "done"
    assert names and all(n.startswith("argon2") for n in names)
    pool.close()
