"""The S3 driver against a real S3-speaking server (moto on loopback): the shared
conformance suite, plus what only an object store can get wrong — appends that
cross S3's 5 MiB part minimum, writers on other replicas, server-side assembly,
presigned URLs, memory per upload, stray multipart uploads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from dockyard.config import S3Storage
from dockyard.storage.base import DeleteFailed, InvalidOffset, PathNotFound, StorageError
from dockyard.storage.s3 import S3Driver
from dockyard.storage.s3_upload import MIN_PART
from tests.storage.conformance import DriverConformance, read_all, write_through
from tests.support.s3server import S3Server
from tests.support.server import free_port

KiB = 1 << 10
MiB = 1 << 20
PREFIX = "registry"


def make_driver(s3: S3Server, bucket: str, **overrides: Any) -> S3Driver:
    return S3Driver(S3Storage(**s3.settings(bucket, PREFIX, **overrides)))


class TestS3Driver(DriverConformance):
    @pytest.fixture
    async def driver(self, s3_server: S3Server) -> AsyncIterator[S3Driver]:
        bucket = s3_server.create_bucket()
        d = make_driver(s3_server, bucket)
        # connect first: botocore's one-time load of the S3 service model (~12 MiB of
        # Python objects per process) is not memory an upload holds
        await d.ping()
        yield d
        await d.close()
        s3_server.delete_bucket(bucket)


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    name = s3_server.create_bucket()
    yield name
    s3_server.delete_bucket(name)


@pytest.fixture
async def s3(s3_server: S3Server, bucket: str) -> AsyncIterator[S3Driver]:
    """A driver with the smallest part size S3 allows, so pieces are many."""
    d = make_driver(s3_server, bucket, part_size=MIN_PART)
    yield d
    await d.close()


@pytest.fixture
async def replica(s3_server: S3Server, bucket: str) -> AsyncIterator[S3Driver]:
    """A second driver over the same bucket: another process, another replica."""
    d = make_driver(s3_server, bucket, part_size=MIN_PART)
    yield d
    await d.close()


def piece_sizes(s3_server: S3Server, bucket: str, path: str) -> list[int]:
    client = s3_server.client()
    prefix = f"{PREFIX}/{path}/~parts/"
    page = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Size"] for o in sorted(page.get("Contents", []), key=lambda o: o["Key"])]


# -- appends ----------------------------------------------------------------------


async def test_appends_from_many_writers_across_the_part_minimum(
    s3_server: S3Server, bucket: str, s3: S3Driver, replica: S3Driver
) -> None:
    sizes = [KiB, 3 * MiB, KiB, 7 * MiB, 12 * MiB, 1, 3 * MiB, 2 * MiB, 12 * MiB, KiB]
    pieces = [os.urandom(n) for n in sizes]
    offset = 0
    for i, piece in enumerate(pieces):
        d = (s3, replica)[i % 2]  # every request on the other replica
        w = await d.writer("uploads/u/data", offset)
        assert w.size == offset
        await w.write(piece)
        await w.commit()
        await w.close()
        offset += len(piece)
        assert (await replica.stat("uploads/u/data")).size == offset
    expected = b"".join(pieces)
    assert await s3.get_content("uploads/u/data") == expected
    # a worker that missed chunks re-reads them from the upload in progress
    assert await read_all(replica, "uploads/u/data", 5, 9 * MiB) == expected[5 : 5 + 9 * MiB]
    sizes_stored = piece_sizes(s3_server, bucket, "uploads/u/data")
    assert sum(sizes_stored) == len(expected)
    assert all(n >= MIN_PART for n in sizes_stored[:-1]), sizes_stored

    digest = hashlib.sha256(expected).hexdigest()
    await s3.move("uploads/u/data", f"blobs/sha256/{digest[:2]}/{digest}")
    assert await replica.get_content(f"blobs/sha256/{digest[:2]}/{digest}") == expected
    assert s3_server.keys(bucket, f"{PREFIX}/uploads/") == []


async def test_pieces_written_in_one_call_larger_than_a_part(s3: S3Driver) -> None:
    data = os.urandom(23 * MiB + 5)
    w = await s3.writer("w/huge")
    await w.write(data)  # one call, four parts' worth
    await w.commit()
    await w.close()
    assert await s3.get_content("w/huge") == data


async def test_replica_continues_an_upload(s3: S3Driver, replica: S3Driver) -> None:
    first, second = os.urandom(6 * MiB + 3), os.urandom(2 * MiB)
    w = await s3.writer("uploads/r/data")
    await w.write(first)
    await w.commit()
    await w.close()
    w2 = await replica.writer("uploads/r/data", len(first))
    assert w2.size == len(first)
    await w2.write(second)
    await w2.commit()
    await w2.close()
    assert await s3.get_content("uploads/r/data") == first + second


async def test_interrupted_write_is_discarded(
    s3_server: S3Server, bucket: str, s3: S3Driver, replica: S3Driver
) -> None:
    kept = os.urandom(MiB)
    await write_through(s3, "uploads/i/data", kept)
    # a request dies after several full parts reached the bucket, before commit
    w = await s3.writer("uploads/i/data", len(kept))
    await w.write(os.urandom(17 * MiB))
    await w.close()
    assert sum(piece_sizes(s3_server, bucket, "uploads/i/data")) > len(kept)
    # the retry, on another replica, starts from the acknowledged offset
    w = await replica.writer("uploads/i/data", len(kept))
    await w.write(b"tail")
    await w.commit()
    await w.close()
    assert await s3.get_content("uploads/i/data") == kept + b"tail"
    assert sum(piece_sizes(s3_server, bucket, "uploads/i/data")) == len(kept) + 4


async def test_truncate_inside_a_full_piece(s3: S3Driver) -> None:
    data = os.urandom(13 * MiB)
    await write_through(s3, "w/cut", data)
    cut = 7 * MiB + 11  # inside the second piece
    await write_through(s3, "w/cut", b"new", offset=cut)
    assert await s3.get_content("w/cut") == data[:cut] + b"new"


async def test_cancel_after_full_parts_restores_the_tail(s3: S3Driver) -> None:
    await write_through(s3, "w/c", b"short tail")
    w = await s3.writer("w/c", 10)
    await w.write(os.urandom(11 * MiB))  # rewrites the tail's piece, adds another
    await w.cancel()
    await w.close()
    assert await s3.get_content("w/c") == b"short tail"


async def test_invalid_offset_on_a_replica(s3: S3Driver, replica: S3Driver) -> None:
    await write_through(s3, "w/o", os.urandom(6 * MiB))
    with pytest.raises(InvalidOffset):
        await replica.writer("w/o", 6 * MiB + 1)


async def test_writer_on_a_plain_object(s3: S3Driver) -> None:
    await s3.put_content("p/x", b"0123456789")
    await write_through(s3, "p/x", b"ab", offset=4)
    assert await s3.get_content("p/x") == b"0123ab"
    assert (await s3.stat("p/x")).size == 6


# -- move -----------------------------------------------------------------------------


async def test_move_of_a_multipart_object(s3_server: S3Server, bucket: str, s3: S3Driver) -> None:
    data = os.urandom(16 * MiB + 123)
    w = await s3.writer("uploads/m/data")
    for i in range(0, len(data), MiB):
        await w.write(data[i : i + MiB])
    await w.commit()
    await w.close()
    assert len(piece_sizes(s3_server, bucket, "uploads/m/data")) == 4
    await s3.move("uploads/m/data", "blobs/sha256/ab/abcdef")
    head = s3_server.client().head_object(Bucket=bucket, Key=f"{PREFIX}/blobs/sha256/ab/abcdef")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-4")  # assembled from 4 copied parts
    assert await read_all(s3, "blobs/sha256/ab/abcdef") == data
    assert await read_all(s3, "blobs/sha256/ab/abcdef", 5 * MiB - 1, 2) == data[5 * MiB - 1 :][:2]
    with pytest.raises(PathNotFound):
        await s3.stat("uploads/m/data")
    assert s3_server.multipart_uploads(bucket) == []


async def test_move_of_a_large_plain_object_copies_in_parts(
    s3_server: S3Server, bucket: str, s3: S3Driver
) -> None:
    data = os.urandom(70 * MiB)
    await s3.put_content("plain/big", data)
    await s3.move("plain/big", "plain/moved")
    head = s3_server.client().head_object(Bucket=bucket, Key=f"{PREFIX}/plain/moved")
    assert head["ContentLength"] == len(data)
    assert "-" in head["ETag"]  # UploadPartCopy, not CopyObject
    assert hashlib.sha256(await s3.get_content("plain/moved")).digest() == (
        hashlib.sha256(data).digest()
    )


# -- keys, delete, list ---------------------------------------------------------------


async def test_keys_live_under_the_prefix(s3_server: S3Server, bucket: str, s3: S3Driver) -> None:
    await s3.put_content("a/b", b"x")
    await write_through(s3, "uploads/k/data", b"y")
    assert s3_server.keys(bucket) == [
        f"{PREFIX}/a/b",
        f"{PREFIX}/uploads/k/data/~parts/0000000000000000",
    ]
    assert await s3.list("uploads") == ["uploads/k"]
    assert await s3.list("uploads/k") == ["uploads/k/data"]
    with pytest.raises(StorageError):
        await s3.stat("uploads/k/data/~parts")


async def test_delete_prefix_aborts_multipart_uploads(
    s3_server: S3Server, bucket: str, s3: S3Driver
) -> None:
    client = s3_server.client()
    client.create_multipart_upload(Bucket=bucket, Key=f"{PREFIX}/blobs/sha256/ab/stray")
    client.create_multipart_upload(Bucket=bucket, Key=f"{PREFIX}/other/keep")
    await s3.put_content("blobs/sha256/ab/real", b"x")
    await s3.delete("blobs")
    assert s3_server.multipart_uploads(bucket) == [f"{PREFIX}/other/keep"]
    assert s3_server.keys(bucket, f"{PREFIX}/blobs/") == []


async def test_delete_many_objects_in_batches(
    s3_server: S3Server, bucket: str, s3: S3Driver
) -> None:
    sem = asyncio.Semaphore(16)

    async def put(i: int) -> None:
        async with sem:
            await s3.put_content(f"many/{i:05d}", b".")

    await asyncio.gather(*(put(i) for i in range(1005)))
    assert len(await s3.list("many")) == 1005
    await s3.delete("many")
    assert s3_server.keys(bucket, f"{PREFIX}/many/") == []


async def test_delete_many_calls_delete_objects_in_parallel_batches(
    s3_server: S3Server, bucket: str, s3: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    sem = asyncio.Semaphore(16)

    async def put(i: int) -> None:
        async with sem:
            await s3.put_content(f"dm/{i:05d}", b".")

    await asyncio.gather(*(put(i) for i in range(3500)))
    client = await s3._bucket.client()
    real = client.delete_objects
    sizes: list[int] = []
    in_flight = peak = 0

    async def counting(**kwargs: Any) -> Any:
        nonlocal in_flight, peak
        sizes.append(len(kwargs["Delete"]["Objects"]))
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await real(**kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(client, "delete_objects", counting)
    await s3.delete_many([f"dm/{i:05d}" for i in range(3500)])
    assert sorted(sizes) == [500, 1000, 1000, 1000]
    assert peak > 1  # several calls at once
    assert s3_server.keys(bucket, f"{PREFIX}/dm/") == []


async def test_delete_many_failure_names_every_key(s3_server: S3Server) -> None:
    d = make_driver(s3_server, "no-such-bucket-for-deletes")
    try:
        with pytest.raises(DeleteFailed) as exc:
            await d.delete_many(["blobs/a", "blobs/b"])
        assert exc.value.paths == ["blobs/a", "blobs/b"]
        assert not isinstance(exc.value, PathNotFound)
    finally:
        await d.close()


# -- redirects ------------------------------------------------------------------------


async def test_presigned_url_serves_the_bytes(s3_server: S3Server, bucket: str) -> None:
    d = make_driver(s3_server, bucket, redirect=True, redirect_expiry_seconds=300)
    try:
        data = os.urandom(3 * MiB)
        await d.put_content("blobs/sha256/cd/cdef", data)
        url = await d.redirect_url("blobs/sha256/cd/cdef")
        assert url is not None and url.startswith(s3_server.endpoint)
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
        async with httpx.AsyncClient() as http:
            r = await http.get(url)
            assert r.status_code == 200
            assert r.content == data
            ranged = await http.get(url, headers={"Range": "bytes=10-19"})
            assert ranged.status_code == 206 and ranged.content == data[10:20]
    finally:
        await d.close()


async def test_no_redirect_when_off(s3: S3Driver) -> None:
    await s3.put_content("blobs/x", b"x")
    assert await s3.redirect_url("blobs/x") is None
    assert s3.local_path("blobs/x") is None


# -- memory -----------------------------------------------------------------------------


async def test_64mib_upload_holds_one_part_not_the_object(s3_server: S3Server, bucket: str) -> None:
    d = make_driver(s3_server, bucket)  # the default part size
    part = d.settings.part_size
    base = os.urandom(MiB)
    await d.ping()  # the client and its service model are loaded once per process
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        w = await d.writer("uploads/big/data")
        for i in range(64):
            await w.write(i.to_bytes(8, "big") + base[8:])
        await w.commit()
        await w.close()
        await d.move("uploads/big/data", "blobs/big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await d.close()
    assert peak < part + 8 * MiB, f"peak {peak / MiB:.1f} MiB, part {part / MiB:.0f} MiB"
    assert (await make_driver(s3_server, bucket).stat("blobs/big")).size == 64 * MiB


# -- failures -----------------------------------------------------------------------------


async def test_ping_missing_bucket(s3_server: S3Server) -> None:
    d = make_driver(s3_server, "no-such-bucket-here")
    try:
        with pytest.raises(StorageError, match="does not exist"):
            await d.ping()
        # every operation reports the missing bucket as a storage error, not a 404
        with pytest.raises(StorageError) as exc:
            await d.put_content("a", b"x")
        assert not isinstance(exc.value, PathNotFound)
    finally:
        await d.close()


async def test_unreachable_endpoint(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries with backoff
    settings = s3_server.settings("bucket", endpoint=f"http://127.0.0.1:{free_port()}")
    d = S3Driver(S3Storage(**settings))
    try:
        with pytest.raises(StorageError):
            await d.ping()
        with pytest.raises(StorageError):
            await d.stat("x")
    finally:
        await d.close()


async def test_credentials_from_the_environment(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    d = make_driver(s3_server, bucket, access_key_id=None, secret_access_key=None)
    try:
        with pytest.raises(StorageError, match="credentials"):
            await d.ping()
    finally:
        await d.close()
    for var, value in s3_server.aws_env().items():
        monkeypatch.setenv(var, value)
    d = make_driver(s3_server, bucket, access_key_id=None, secret_access_key=None)
    try:
        await d.ping()
        await d.put_content("env/x", b"x")
        assert await d.get_content("env/x") == b"x"
    finally:
        await d.close()
