"""Measure async S3 client libraries against the test S3 server (moto, loopback).

How the S3 driver's library was chosen (docs/storage.md): PUT and GET of a
256 MiB object (one PUT, and 16 MiB pieces 4 at a time, which is how the driver
writes), and the median latency of 1 KiB PUT / GET / HEAD.

    python -m venv /tmp/s3bench
    /tmp/s3bench/bin/pip install aiobotocore obstore opendal 'moto[server]' httpx
    PYTHONPATH=. /tmp/s3bench/bin/python bench/s3_clients.py [--libs aiobotocore,obstore]

Every library reads the same bytes from the same bucket on the same server; the
server (moto, Python) is the ceiling for everyone, so read the figures as
relative client overhead on this machine, not as S3 throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.s3server import S3Server, run_s3_server

MiB = 1 << 20
BIG = 256 * MiB
PIECE = 16 * MiB
SMALL_N = 200


class Lib:
    name = ""

    async def setup(self, s3: S3Server, bucket: str) -> None: ...
    async def put(self, key: str, data: bytes) -> None: ...
    async def put_pieces(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> int: ...
    async def head(self, key: str) -> int: ...
    async def close(self) -> None: ...


async def _gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            await job()

    await asyncio.gather(*(run(j) for j in jobs))


class Aiobotocore(Lib):
    name = "aiobotocore"

    async def setup(self, s3: S3Server, bucket: str) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self.bucket = bucket
        self._cm = get_session().create_client(
            "s3",
            endpoint_url=s3.endpoint,
            region_name=s3.region,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key,
            config=AioConfig(
                s3={"addressing_style": "path", "payload_signing_enabled": False},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                max_pool_connections=16,
            ),
        )
        self.c = await self._cm.__aenter__()

    async def put(self, key: str, data: bytes) -> None:
        await self.c.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def put_pieces(self, key: str, data: bytes) -> None:
        up = await self.c.create_multipart_upload(Bucket=self.bucket, Key=key)
        uid = up["UploadId"]
        etags: dict[int, str] = {}
        view = memoryview(data)

        def job(n: int) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                body = view[(n - 1) * PIECE : n * PIECE]
                r = await self.c.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=n, Body=bytes(body)
                )
                etags[n] = r["ETag"]

            return go

        await _gather_limited([job(n) for n in range(1, len(data) // PIECE + 1)], 4)
        parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        await self.c.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}
        )

    async def get(self, key: str) -> int:
        r = await self.c.get_object(Bucket=self.bucket, Key=key)
        n = 0
        async with r["Body"] as body:
            async for chunk in body.iter_chunks(MiB):
                n += len(chunk)
        return n

    async def head(self, key: str) -> int:
        r = await self.c.head_object(Bucket=self.bucket, Key=key)
        return int(r["ContentLength"])

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)


class Obstore(Lib):
    name = "obstore"

    async def setup(self, s3: S3Server, bucket: str) -> None:
        import obstore
        from obstore.store import S3Store

        self.ob = obstore
        self.store = S3Store(
            bucket,
            endpoint=s3.endpoint,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    async def put(self, key: str, data: bytes) -> None:
        await self.ob.put_async(self.store, key, data, use_multipart=False)

    async def put_pieces(self, key: str, data: bytes) -> None:
        view = memoryview(data)
        chunks = [bytes(view[i : i + PIECE]) for i in range(0, len(data), PIECE)]
        await self.ob.put_async(
            self.store, key, chunks, use_multipart=True, chunk_size=PIECE, max_concurrency=4
        )

    async def get(self, key: str) -> int:
        r = await self.ob.get_async(self.store, key)
        n = 0
        async for chunk in r.stream(min_chunk_size=MiB):
            n += len(chunk)
        return n

    async def head(self, key: str) -> int:
        meta = await self.ob.head_async(self.store, key)
        return int(meta["size"])


class OpenDAL(Lib):
    name = "opendal"

    async def setup(self, s3: S3Server, bucket: str) -> None:
        import opendal

        self.op = opendal.AsyncOperator(
            "s3",
            bucket=bucket,
            endpoint=s3.endpoint,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )

    async def put(self, key: str, data: bytes) -> None:
        await self.op.write(key, data)

    async def put_pieces(self, key: str, data: bytes) -> None:
        f = await self.op.open(key, "wb", chunk=PIECE, concurrent=4)
        view = memoryview(data)
        for i in range(0, len(data), PIECE):
            await f.write(bytes(view[i : i + PIECE]))
        await f.close()

    async def get(self, key: str) -> int:
        f = await self.op.open(key, "rb")
        n = 0
        while chunk := await f.read(MiB):
            n += len(chunk)
        await f.close()
        return n

    async def head(self, key: str) -> int:
        meta = await self.op.stat(key)
        return int(meta.content_length)


LIBS: dict[str, type[Lib]] = {c.name: c for c in (Aiobotocore, Obstore, OpenDAL)}


CPU: dict[str, float] = {}


async def timed(fn: Callable[[], Awaitable[Any]], label: str = "") -> float:
    """Wall time of one call; this process's CPU time is added up per label."""
    t, c = time.perf_counter(), time.process_time()
    await fn()
    CPU[label] = CPU.get(label, 0.0) + time.process_time() - c
    return time.perf_counter() - t


async def measure(lib: Lib, s3: S3Server, rounds: int) -> dict[str, float]:
    bucket = s3.create_bucket()
    await lib.setup(s3, bucket)
    data = os.urandom(BIG)
    small = os.urandom(1024)
    CPU.clear()
    out: dict[str, list[float]] = {k: [] for k in ("put", "put_pieces", "get")}
    for r in range(rounds):
        big, pieces = f"big{r}", f"pc{r}"
        out["put"].append(BIG / MiB / await timed(lambda k=big: lib.put(k, data), "put"))
        out["put_pieces"].append(
            BIG / MiB / await timed(lambda k=pieces: lib.put_pieces(k, data), "put_pieces")
        )

        async def get_one(key: str = big) -> None:
            assert await lib.get(key) == BIG

        out["get"].append(BIG / MiB / await timed(get_one, "get"))
    lat: dict[str, list[float]] = {"small_put": [], "small_get": [], "small_head": []}
    for i in range(SMALL_N):
        key = f"s/{i}"
        lat["small_put"].append(await timed(lambda k=key: lib.put(k, small), "small_put"))
        lat["small_get"].append(await timed(lambda k=key: lib.get(k), "small_get"))
        lat["small_head"].append(await timed(lambda k=key: lib.head(k), "small_head"))
    await lib.close()
    s3.delete_bucket(bucket)
    result = {f"{k}_MBps": max(v) * MiB / 1e6 for k, v in out.items()}
    # client CPU seconds per GiB moved: the library's own cost, whatever the server does
    result.update({f"{k}_cpu_s_per_GiB": CPU[k] / rounds * 4 for k in out})
    result.update({f"{k}_ms": statistics.median(v) * 1000 for k, v in lat.items()})
    result.update({f"{k}_cpu_ms": CPU[k] / SMALL_N * 1000 for k in lat})
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--libs", default=",".join(LIBS))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with run_s3_server() as s3:
        for name in args.libs.split(","):
            result = await measure(LIBS[name](), s3, args.rounds)
            cells = "  ".join(f"{k}={v:.1f}" for k, v in result.items())
            print(f"{name:12s} {cells}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
