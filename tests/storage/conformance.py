"""The StorageDriver conformance suite (DESIGN.md convention 2).

Modelled on distribution's registry/storage/driver/testsuites: every driver
subclasses `DriverConformance` and provides one fixture, `driver`, that yields
a fresh, empty driver for each test (and cleans up after it). Nothing here may
assume a filesystem: no directories, no local paths, no sizes of temp files;
only what the `StorageDriver` protocol promises. An S3 driver must pass this
file unchanged.

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        async def driver(self, tmp_path):
            yield MyDriver(...)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from dockyard.storage.base import (
    DeleteFailed,
    FileInfo,
    InvalidOffset,
    PathNotFound,
    StorageDriver,
    StorageError,
)

MiB = 1 << 20

INVALID_KEYS = [
    "",
    "/abs",
    "/",
    "..",
    "../escape",
    "a/../b",
    "a/..",
    "a/b/../../..",
    "a//b",
    "./a",
    "a/~b",
    "a\0b",
]


async def read_all(
    driver: StorageDriver, path: str, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in driver.reader(path, offset, length)])


async def write_through(driver: StorageDriver, path: str, data: bytes, offset: int = 0) -> None:
    w = await driver.writer(path, offset)
    try:
        await w.write(data)
        await w.commit()
    finally:
        await w.close()


def _read_local(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class DriverConformance:
    """Base class of every driver's tests. Subclasses override `driver`."""

    #: True for drivers whose stored bytes live in this process's heap (memory);
    #: the streaming test then skips its peak-allocation check.
    keeps_bytes_in_memory = False

    @pytest.fixture
    async def driver(self) -> AsyncIterator[StorageDriver]:
        raise NotImplementedError("a DriverConformance subclass must provide the `driver` fixture")
        yield  # pragma: no cover

    # -- the protocol itself ----------------------------------------------------

    async def test_implements_protocol(self, driver: StorageDriver) -> None:
        assert isinstance(driver, StorageDriver)
        assert isinstance(driver.name, str) and driver.name

    async def test_ping(self, driver: StorageDriver) -> None:
        await driver.ping()

    async def test_local_path_and_redirect_are_optional(self, driver: StorageDriver) -> None:
        await driver.put_content("opt/file", b"payload")
        local = driver.local_path("opt/file")
        if local is not None:
            assert _read_local(local) == b"payload"
        url = await driver.redirect_url("opt/file")
        assert url is None or url.startswith(("http://", "https://"))

    # -- stat -------------------------------------------------------------------

    async def test_stat(self, driver: StorageDriver) -> None:
        await driver.put_content("stat/a", b"12345")
        info = await driver.stat("stat/a")
        assert isinstance(info, FileInfo)
        assert info.path == "stat/a"
        assert info.size == 5
        assert info.modified > 0

    async def test_stat_missing(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound) as exc:
            await driver.stat("stat/missing")
        assert exc.value.path == "stat/missing"
        assert isinstance(exc.value, StorageError)

    # -- put_content / get_content ----------------------------------------------

    async def test_put_get_roundtrip(self, driver: StorageDriver) -> None:
        await driver.put_content("pg/a", b"hello")
        assert await driver.get_content("pg/a") == b"hello"

    async def test_put_overwrites(self, driver: StorageDriver) -> None:
        await driver.put_content("pg/a", b"a much longer first version")
        await driver.put_content("pg/a", b"short")
        assert await driver.get_content("pg/a") == b"short"
        assert (await driver.stat("pg/a")).size == 5

    async def test_put_empty(self, driver: StorageDriver) -> None:
        await driver.put_content("pg/empty", b"")
        assert await driver.get_content("pg/empty") == b""
        assert (await driver.stat("pg/empty")).size == 0
        assert await read_all(driver, "pg/empty") == b""

    async def test_put_binary(self, driver: StorageDriver) -> None:
        data = bytes(range(256)) * 64 + b"\x00\r\n\xff"
        await driver.put_content("pg/bin", data)
        assert await driver.get_content("pg/bin") == data

    async def test_put_nested_keys(self, driver: StorageDriver) -> None:
        key = "n/e/s/t/e/d/deep-key_1.x"
        await driver.put_content(key, b"deep")
        await driver.put_content("n/e/s/sibling", b"sib")
        assert await driver.get_content(key) == b"deep"
        assert await driver.get_content("n/e/s/sibling") == b"sib"

    async def test_get_missing(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound):
            await driver.get_content("pg/missing")

    async def test_get_prefix_is_not_content(self, driver: StorageDriver) -> None:
        await driver.put_content("pg/dir/child", b"x")
        with pytest.raises(PathNotFound):
            await driver.get_content("pg/dir")

    async def test_put_is_atomic_for_concurrent_readers(self, driver: StorageDriver) -> None:
        versions = [bytes([65 + i]) * (MiB + i * 4096) for i in range(4)]
        await driver.put_content("atomic/key", versions[0])
        stop = asyncio.Event()
        seen: list[bytes] = []

        async def readers() -> None:
            while not stop.is_set():
                seen.append(await driver.get_content("atomic/key"))
                await asyncio.sleep(0)

        async def writers() -> None:
            for round_ in range(12):
                await driver.put_content("atomic/key", versions[round_ % len(versions)])
                await asyncio.sleep(0)
            stop.set()

        await asyncio.gather(readers(), readers(), writers())
        assert seen
        for content in seen:
            assert content in versions, f"a reader saw a torn write of {len(content)} bytes"

    # -- reader -----------------------------------------------------------------

    async def test_reader_whole(self, driver: StorageDriver) -> None:
        data = os.urandom(3 * MiB + 17)
        await driver.put_content("r/a", data)
        assert await read_all(driver, "r/a") == data

    async def test_reader_offset(self, driver: StorageDriver) -> None:
        await driver.put_content("r/a", b"0123456789")
        assert await read_all(driver, "r/a", 3) == b"3456789"
        assert await read_all(driver, "r/a", 10) == b""

    async def test_reader_offset_and_length(self, driver: StorageDriver) -> None:
        await driver.put_content("r/a", b"0123456789")
        assert await read_all(driver, "r/a", 2, 3) == b"234"
        assert await read_all(driver, "r/a", 0, 0) == b""
        assert await read_all(driver, "r/a", 0, 10) == b"0123456789"
        # a length reaching past the end stops at the end
        assert await read_all(driver, "r/a", 7, 100) == b"789"

    async def test_reader_offset_and_length_across_chunks(self, driver: StorageDriver) -> None:
        data = os.urandom(5 * MiB)
        await driver.put_content("r/big", data)
        start, length = MiB - 3, 2 * MiB + 7
        assert await read_all(driver, "r/big", start, length) == data[start : start + length]

    async def test_reader_offset_past_end(self, driver: StorageDriver) -> None:
        await driver.put_content("r/a", b"0123456789")
        assert await read_all(driver, "r/a", 11) == b""
        assert await read_all(driver, "r/a", 1000, 5) == b""

    async def test_reader_missing(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound):
            await read_all(driver, "r/missing")

    # -- writer -----------------------------------------------------------------

    async def test_writer_creates_and_commits(self, driver: StorageDriver) -> None:
        w = await driver.writer("w/a")
        assert w.size == 0
        await w.write(b"hello ")
        assert w.size == 6
        await w.write(b"world")
        assert w.size == 11
        await w.commit()
        await w.close()
        assert await driver.get_content("w/a") == b"hello world"
        assert (await driver.stat("w/a")).size == 11

    async def test_writer_empty_write(self, driver: StorageDriver) -> None:
        w = await driver.writer("w/a")
        await w.write(b"")
        await w.write(b"x")
        await w.write(b"")
        assert w.size == 1
        await w.commit()
        await w.close()
        assert await driver.get_content("w/a") == b"x"

    async def test_writer_appends_across_writers(self, driver: StorageDriver) -> None:
        parts = [os.urandom(n) for n in (1, 4096, MiB + 5, 3)]
        offset = 0
        for part in parts:
            w = await driver.writer("w/chunked", offset)
            assert w.size == offset
            await w.write(part)
            assert w.size == offset + len(part)
            await w.commit()
            await w.close()
            offset += len(part)
            assert (await driver.stat("w/chunked")).size == offset
        assert await driver.get_content("w/chunked") == b"".join(parts)

    async def test_writer_truncates_interrupted_write(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/resume", b"0123456789")
        # an interrupted request got some bytes in without ever being accounted for
        w = await driver.writer("w/resume", 10)
        await w.write(b"GARBAGE-FROM-A-DEAD-REQUEST")
        await w.close()
        w = await driver.writer("w/resume", 10)
        assert w.size == 10
        await w.write(b"abc")
        await w.commit()
        await w.close()
        assert await driver.get_content("w/resume") == b"0123456789abc"

    async def test_writer_truncates_to_smaller_offset(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/t", b"0123456789")
        await write_through(driver, "w/t", b"XY", offset=4)
        assert await driver.get_content("w/t") == b"0123XY"

    async def test_writer_at_zero_replaces(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/z", b"old content")
        await write_through(driver, "w/z", b"new")
        assert await driver.get_content("w/z") == b"new"

    async def test_writer_cancel_discards_back_to_start(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/c", b"kept")
        w = await driver.writer("w/c", 4)
        await w.write(b"-discarded-" * 1000)
        await w.cancel()
        assert w.size == 4
        await w.close()
        assert await driver.get_content("w/c") == b"kept"
        # the key can be resumed from where it was
        await write_through(driver, "w/c", b"+more", offset=4)
        assert await driver.get_content("w/c") == b"kept+more"

    async def test_writer_cancel_new_key(self, driver: StorageDriver) -> None:
        w = await driver.writer("w/new")
        await w.write(b"discard me")
        await w.cancel()
        assert w.size == 0
        await w.close()
        try:
            content = await driver.get_content("w/new")
        except PathNotFound:
            return
        assert content == b""

    async def test_writer_usable_after_cancel(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/again", b"base")
        w = await driver.writer("w/again", 4)
        await w.write(b"discarded")
        await w.cancel()
        await w.write(b"+kept")
        assert w.size == 9
        await w.commit()
        await w.close()
        assert await driver.get_content("w/again") == b"base+kept"

    async def test_writer_invalid_offset(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/o", b"0123456789")
        with pytest.raises(InvalidOffset) as exc:
            await driver.writer("w/o", 11)
        assert exc.value.offset == 11
        assert isinstance(exc.value, StorageError)
        assert await driver.get_content("w/o") == b"0123456789"

    async def test_writer_invalid_offset_missing_key(self, driver: StorageDriver) -> None:
        with pytest.raises(InvalidOffset):
            await driver.writer("w/none", 5)
        with pytest.raises(PathNotFound):
            await driver.stat("w/none")

    async def test_writer_at_current_size_keeps_content(self, driver: StorageDriver) -> None:
        await write_through(driver, "w/s", b"0123456789")
        w = await driver.writer("w/s", 10)
        assert w.size == 10
        await w.commit()
        await w.close()
        assert await driver.get_content("w/s") == b"0123456789"

    async def test_concurrent_writers_different_keys(self, driver: StorageDriver) -> None:
        n, chunks = 8, 16

        def chunk(i: int, j: int) -> bytes:
            return bytes([i]) * (4096 + j) + f"{i}:{j}".encode()

        async def one(i: int) -> None:
            w = await driver.writer(f"cw/{i}/data")
            try:
                for j in range(chunks):
                    await w.write(chunk(i, j))
                    await asyncio.sleep(0)
                await w.commit()
            finally:
                await w.close()

        await asyncio.gather(*(one(i) for i in range(n)))
        for i in range(n):
            expected = b"".join(chunk(i, j) for j in range(chunks))
            assert await driver.get_content(f"cw/{i}/data") == expected

    async def test_streamed_64mib(self, driver: StorageDriver) -> None:
        """64 MiB in 1 MiB chunks, hashed on the way in and out: neither side may
        hold the whole thing (checked with tracemalloc unless the driver's own
        storage is the heap)."""
        total_chunks = 64
        base = os.urandom(MiB)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            written = hashlib.sha256()
            w = await driver.writer("big/data")
            try:
                for i in range(total_chunks):
                    piece = i.to_bytes(8, "big") + base[8:]
                    written.update(piece)
                    await w.write(piece)
                await w.commit()
            finally:
                await w.close()
            assert (await driver.stat("big/data")).size == total_chunks * MiB

            read = hashlib.sha256()
            largest = count = 0
            async for piece in driver.reader("big/data"):
                read.update(piece)
                largest = max(largest, len(piece))
                count += len(piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == total_chunks * MiB
        assert read.hexdigest() == written.hexdigest()
        assert largest <= 16 * MiB, f"reader yielded a {largest}-byte chunk"
        if not self.keeps_bytes_in_memory:
            assert peak < 24 * MiB, f"peak allocation {peak / MiB:.1f} MiB for a 64 MiB stream"

    # -- move -------------------------------------------------------------------

    async def test_move(self, driver: StorageDriver) -> None:
        await driver.put_content("mv/src", b"payload")
        await driver.move("mv/src", "mv/elsewhere/dst")
        assert await driver.get_content("mv/elsewhere/dst") == b"payload"
        with pytest.raises(PathNotFound):
            await driver.stat("mv/src")
        with pytest.raises(PathNotFound):
            await driver.get_content("mv/src")

    async def test_move_replaces_destination(self, driver: StorageDriver) -> None:
        await driver.put_content("mv/src", b"new")
        await driver.put_content("mv/dst", b"old and longer")
        await driver.move("mv/src", "mv/dst")
        assert await driver.get_content("mv/dst") == b"new"
        assert (await driver.stat("mv/dst")).size == 3
        with pytest.raises(PathNotFound):
            await driver.stat("mv/src")

    async def test_move_missing_source(self, driver: StorageDriver) -> None:
        await driver.put_content("mv/dst", b"untouched")
        with pytest.raises(PathNotFound):
            await driver.move("mv/missing", "mv/dst")
        assert await driver.get_content("mv/dst") == b"untouched"

    async def test_move_written_file(self, driver: StorageDriver) -> None:
        data = os.urandom(2 * MiB + 1)
        await write_through(driver, "uploads/x/data", data)
        await driver.move("uploads/x/data", "blobs/sha256/ab/abcdef")
        assert await read_all(driver, "blobs/sha256/ab/abcdef") == data
        with pytest.raises(PathNotFound):
            await driver.stat("uploads/x/data")

    # -- delete -----------------------------------------------------------------

    async def test_delete_file(self, driver: StorageDriver) -> None:
        await driver.put_content("del/a", b"x")
        await driver.put_content("del/b", b"y")
        await driver.delete("del/a")
        with pytest.raises(PathNotFound):
            await driver.stat("del/a")
        assert await driver.get_content("del/b") == b"y"

    async def test_delete_prefix_recursively(self, driver: StorageDriver) -> None:
        for key in ("del/p/a", "del/p/b/c", "del/p/b/d/e", "del/keep", "del/pp"):
            await driver.put_content(key, key.encode())
        await driver.delete("del/p")
        for key in ("del/p/a", "del/p/b/c", "del/p/b/d/e"):
            with pytest.raises(PathNotFound):
                await driver.stat(key)
        # a sibling sharing the string prefix is not under the prefix
        assert await driver.get_content("del/pp") == b"del/pp"
        assert await driver.get_content("del/keep") == b"del/keep"

    async def test_delete_missing(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound):
            await driver.delete("del/missing")
        await driver.put_content("del/once", b"x")
        await driver.delete("del/once")
        with pytest.raises(PathNotFound):
            await driver.delete("del/once")

    # -- delete_many ------------------------------------------------------------

    async def test_delete_many(self, driver: StorageDriver) -> None:
        for i in range(5):
            await driver.put_content(f"dm/{i}", b"x" * i)
        await write_through(driver, "uploads/dm/data", b"moved")
        await driver.move("uploads/dm/data", "dm/moved")
        # a missing key among them is no error
        await driver.delete_many(["dm/0", "dm/2", "dm/moved", "dm/never-there"])
        for key in ("dm/0", "dm/2", "dm/moved"):
            with pytest.raises(PathNotFound):
                await driver.stat(key)
        for key in ("dm/1", "dm/3", "dm/4"):
            assert (await driver.stat(key)).size == int(key[-1])
        assert await driver.list("dm") == ["dm/1", "dm/3", "dm/4"]

    async def test_delete_many_nothing(self, driver: StorageDriver) -> None:
        await driver.put_content("dm/keep", b"k")
        await driver.delete_many([])
        assert await driver.get_content("dm/keep") == b"k"

    async def test_delete_many_more_than_a_batch(self, driver: StorageDriver) -> None:
        keys = [f"dmb/{i:05d}" for i in range(2345)]
        sem = asyncio.Semaphore(16)

        async def put(key: str) -> None:
            async with sem:
                await driver.put_content(key, b".")

        await asyncio.gather(*(put(k) for k in keys))
        await driver.put_content("dmb/keep", b"k")
        await driver.delete_many(keys)
        assert await driver.list("dmb") == ["dmb/keep"]

    def test_delete_failed_names_the_keys(self) -> None:
        err = DeleteFailed(["a", "b", "c", "d"], "boom")
        assert err.paths == ["a", "b", "c", "d"] and isinstance(err, StorageError)
        assert "4 key(s)" in str(err) and "boom" in str(err)

    # -- list -------------------------------------------------------------------

    async def test_list_direct_children_sorted(self, driver: StorageDriver) -> None:
        for key in ("ls/b", "ls/a", "ls/c/deep/er", "ls/c/x", "ls/Z", "ls/a.b", "lsx/other"):
            await driver.put_content(key, b".")
        assert await driver.list("ls") == ["ls/Z", "ls/a", "ls/a.b", "ls/b", "ls/c"]
        assert await driver.list("ls/c") == ["ls/c/deep", "ls/c/x"]
        assert await driver.list("ls/c/deep") == ["ls/c/deep/er"]

    async def test_list_missing(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound):
            await driver.list("ls/missing")

    async def test_list_after_delete(self, driver: StorageDriver) -> None:
        for key in ("ls/a/1", "ls/b/1"):
            await driver.put_content(key, b".")
        await driver.delete("ls/a")
        assert await driver.list("ls") == ["ls/b"]

    # -- keys -------------------------------------------------------------------

    @pytest.mark.parametrize("key", INVALID_KEYS)
    async def test_invalid_keys_rejected(self, driver: StorageDriver, key: str) -> None:
        await driver.put_content("valid/key", b"v")
        operations: list[Callable[[], Awaitable[Any]]] = [
            lambda: driver.stat(key),
            lambda: driver.get_content(key),
            lambda: driver.put_content(key, b"x"),
            lambda: read_all(driver, key),
            lambda: driver.writer(key),
            lambda: driver.move("valid/key", key),
            lambda: driver.move(key, "valid/other"),
            lambda: driver.delete(key),
            lambda: driver.delete_many(["valid/key", key]),  # checked before any goes
            lambda: driver.list(key),
        ]
        for op in operations:
            with pytest.raises(StorageError) as exc:
                await op()
            assert not isinstance(exc.value, PathNotFound), f"{key!r}: {exc.value}"
        assert await driver.get_content("valid/key") == b"v"
        with pytest.raises(PathNotFound):
            await driver.stat("valid/other")
