"""A thin, typed wrapper over one S3 bucket (aiobotocore): the only module of the
S3 driver that talks to the library.

It owns the client (created lazily inside the running event loop), pages
through listings, batches deletes, and translates every botocore, aiohttp and
socket error into `StorageError`/`PathNotFound` (DESIGN.md convention 4), so
the driver above it deals in keys and bytes only. It knows nothing of the
driver's key layout (prefix, upload pieces).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, ResponseStreamingError

from dockyard.storage.base import PathNotFound, StorageError
from dockyard.storage.s3_options import S3Options

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

T = TypeVar("T")
MiB = 1 << 20
READ_CHUNK = MiB
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
DELETE_CONCURRENCY = 4  # DeleteObjects calls in flight at once (delete_keys)
COPY_CONCURRENCY = 8
STREAM_RETRIES = 3
_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: float


def _fail(op: str, path: str, exc: BaseException, *, missing_ok: bool) -> NoReturn:
    """Raise the driver's exception for a library error."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if missing_ok and (code in _MISSING or (status == 404 and code != "NoSuchBucket")):
            raise PathNotFound(path) from None
        message = err.get("Message") or f"HTTP {status}"
        raise StorageError(f"s3 {op} {path}: {code or status}: {message}") from exc
    raise StorageError(f"s3 {op} {path}: {type(exc).__name__}: {exc}") from exc


_LIBRARY_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


@contextlib.contextmanager
def translate(op: str, path: str, *, missing_ok: bool = True) -> Iterator[None]:
    """Turn library errors raised inside the block into StorageError / PathNotFound."""
    try:
        yield
    except StorageError:
        raise
    except _LIBRARY_ERRORS as exc:
        _fail(op, path, exc, missing_ok=missing_ok)


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class S3Bucket:
    def __init__(self, settings: S3Options) -> None:
        self.settings = settings
        self.name = settings.bucket
        # the storage class new objects get (the cold tier's STANDARD_IA, …); the
        # bucket's default when unset
        self._class: dict[str, Any] = (
            {"StorageClass": settings.storage_class} if settings.storage_class else {}
        )
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncExitStack, S3Client]
        ] = weakref.WeakKeyDictionary()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    # -- client lifecycle -------------------------------------------------------

    def _config(self) -> AioConfig:
        s = self.settings
        return AioConfig(
            region_name=s.region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if s.path_style else "auto"},
            # the registry verifies every blob's digest itself; CRC32 trailers would
            # cost a pass over each body for nothing
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
            connect_timeout=10,
            read_timeout=120,
            # attempts: AWS_MAX_ATTEMPTS / the config file's max_attempts, default 3
            retries={"mode": "standard"},
        )

    async def client(self) -> S3Client:
        """The client of the running event loop, created on its first use there (an
        aiohttp session belongs to one loop)."""
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is not None:
            return entry[1]
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            entry = self._clients.get(loop)
            if entry is None:
                entry = await self._connect()
                self._clients[loop] = entry
        return entry[1]

    async def _connect(self) -> tuple[AsyncExitStack, S3Client]:
        s = self.settings
        credentials: dict[str, Any] = {}
        if s.access_key_id and s.secret_access_key:
            credentials = {
                "aws_access_key_id": s.access_key_id,
                "aws_secret_access_key": s.secret_access_key.get_secret_value(),
            }
            if s.session_token is not None:
                credentials["aws_session_token"] = s.session_token.get_secret_value()
        # without explicit keys botocore walks the standard chain: AWS_* variables,
        # shared config/credentials files (AWS_PROFILE), web identity, ECS, IMDS
        stack = AsyncExitStack()
        with translate("connect", self.name, missing_ok=False):
            client = await stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    region_name=s.region,
                    endpoint_url=s.endpoint,
                    config=self._config(),
                    **credentials,
                )
            )
        return stack, client

    async def close(self) -> None:
        """Close the client of the running loop (those of loops gone are dropped)."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        self._locks.clear()
        self._clients.clear()
        if entry is not None:
            with contextlib.suppress(Exception):
                await entry[0].aclose()

    # -- single objects -----------------------------------------------------------

    async def head(self, key: str, path: str) -> ObjectInfo | None:
        c = await self.client()
        try:
            with translate("head", path):
                r = await c.head_object(Bucket=self.name, Key=key)
        except PathNotFound:
            return None
        return ObjectInfo(key, int(r["ContentLength"]), r["LastModified"].timestamp())

    async def get(self, key: str, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of an object (to its end if `end` is None)."""
        return b"".join([chunk async for chunk in self.stream(key, path, start, end)])

    async def stream(
        self, key: str, path: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) with a ranged GET; a connection that breaks
        mid-body is resumed from the byte it stopped at. PathNotFound if missing."""
        pos = start
        retries = 0
        c = await self.client()
        while end is None or pos < end:
            rng = f"bytes={pos}-" if end is None else f"bytes={pos}-{end - 1}"
            try:
                with translate("get", path):
                    resp = await c.get_object(Bucket=self.name, Key=key, Range=rng)
            except StorageError as exc:
                cause = exc.__cause__
                if isinstance(cause, ClientError) and _status(cause) == 416:
                    return  # the range starts at or past the end
                raise
            body = resp["Body"]
            try:
                while True:
                    try:
                        chunk = await body.read(READ_CHUNK)
                    except (TimeoutError, ResponseStreamingError, aiohttp.ClientError) as e:
                        if retries >= STREAM_RETRIES:
                            _fail("get", path, e, missing_ok=False)
                        retries += 1
                        log.warning("s3 get %s: %s; resuming at byte %d", path, e, pos)
                        break
                    if not chunk:
                        return
                    pos += len(chunk)
                    yield chunk
            finally:
                body.close()

    async def put(self, key: str, path: str, body: bytes | io.BytesIO) -> None:
        c = await self.client()
        with translate("put", path, missing_ok=False):
            await c.put_object(Bucket=self.name, Key=key, Body=body, **self._class)

    async def copy(self, src: str, dst: str, path: str) -> None:
        """CopyObject (server side, up to 5 GiB). PathNotFound if `src` is missing."""
        c = await self.client()
        with translate("copy", path):
            await c.copy_object(
                Bucket=self.name,
                Key=dst,
                CopySource={"Bucket": self.name, "Key": src},
                **self._class,
            )

    # -- many objects ---------------------------------------------------------------

    async def list_objects(self, prefix: str, path: str) -> list[ObjectInfo]:
        """Every object under `prefix` (no delimiter), in key order."""
        c = await self.client()
        out: list[ObjectInfo] = []
        with translate("list", path, missing_ok=False):
            async for page in c.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix
            ):
                out.extend(
                    ObjectInfo(o["Key"], int(o["Size"]), o["LastModified"].timestamp())
                    for o in page.get("Contents", [])
                )
        return out

    async def list_children(self, prefix: str, path: str) -> tuple[list[str], list[str]]:
        """Keys and common prefixes directly under `prefix` (delimiter `/`)."""
        c = await self.client()
        keys: list[str] = []
        prefixes: list[str] = []
        with translate("list", path, missing_ok=False):
            async for page in c.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix, Delimiter="/"
            ):
                keys.extend(o["Key"] for o in page.get("Contents", []))
                prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return keys, prefixes

    async def delete(self, keys: Sequence[str], path: str) -> None:
        """DeleteObjects in batches of 1000 (missing keys are not an error)."""
        c = await self.client()
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            with translate("delete", path, missing_ok=False):
                r = await c.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            errors = [e for e in r.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StorageError(
                    f"s3 delete {path}: {len(errors)} key(s) not deleted, e.g. "
                    f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}"
                )

    async def delete_keys(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """DeleteObjects in batches of 1000, DELETE_CONCURRENCY calls at once; the
        (key, reason) of each key not deleted: per-key errors in an answer, and every
        key of a call that failed as a whole (missing keys are not an error)."""
        c = await self.client()
        batches = [keys[i : i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]

        async def one(batch: Sequence[str]) -> list[tuple[str, str]]:
            try:
                with translate("delete", batch[0], missing_ok=False):
                    r = await c.delete_objects(
                        Bucket=self.name,
                        Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                    )
            except StorageError as exc:
                return [(k, str(exc)) for k in batch]
            return [
                (str(e.get("Key")), f"{e.get('Code')}: {e.get('Message')}")
                for e in r.get("Errors", [])
                if e.get("Code") != "NoSuchKey"
            ]

        jobs = [partial(one, b) for b in batches]
        results = await gather_limited(jobs, DELETE_CONCURRENCY)
        return [failure for batch in results for failure in batch]

    # -- multipart ----------------------------------------------------------------

    async def multipart_copy(
        self, dst: str, sources: Sequence[tuple[str, tuple[int, int] | None]], path: str
    ) -> None:
        """Build `dst` server side from parts, each a whole source object or a
        [start, end) range of one (UploadPartCopy), then CompleteMultipartUpload.
        Every part but the last must be at least 5 MiB. Aborted on any failure."""
        c = await self.client()
        with translate("create-multipart", path, missing_ok=False):
            created = await c.create_multipart_upload(Bucket=self.name, Key=dst, **self._class)
            upload_id = created["UploadId"]
        try:
            etags: dict[int, str] = {}

            async def part(number: int, src: str, rng: tuple[int, int] | None) -> None:
                extra: dict[str, Any] = {}
                if rng is not None:
                    extra["CopySourceRange"] = f"bytes={rng[0]}-{rng[1] - 1}"
                with translate("upload-part-copy", path):
                    r = await c.upload_part_copy(
                        Bucket=self.name,
                        Key=dst,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.name, "Key": src},
                        **extra,
                    )
                etags[number] = r["CopyPartResult"]["ETag"]

            jobs = [partial(part, n, src, rng) for n, (src, rng) in enumerate(sources, 1)]
            await gather_limited(jobs, COPY_CONCURRENCY)
            parts: list[CompletedPartTypeDef] = [
                {"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)
            ]
            with translate("complete-multipart", path, missing_ok=False):
                await c.complete_multipart_upload(
                    Bucket=self.name,
                    Key=dst,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await c.abort_multipart_upload(Bucket=self.name, Key=dst, UploadId=upload_id)
            raise

    async def multipart_uploads(self, prefix: str, path: str) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload in progress under `prefix`."""
        c = await self.client()
        out: list[tuple[str, str]] = []
        with translate("list-multipart", path, missing_ok=False):
            async for page in c.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.name, Prefix=prefix
            ):
                out.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        return out

    async def abort(self, key: str, upload_id: str, path: str) -> None:
        c = await self.client()
        try:
            with translate("abort-multipart", path):
                await c.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        except PathNotFound:
            pass  # finished or aborted meanwhile

    # -- bucket -----------------------------------------------------------------------

    async def head_bucket(self) -> None:
        c = await self.client()
        try:
            await c.head_bucket(Bucket=self.name)
        except ClientError as exc:
            if _status(exc) == 404:
                raise StorageError(f"s3 bucket {self.name!r} does not exist") from None
            _fail("head-bucket", self.name, exc, missing_ok=False)
        except _LIBRARY_ERRORS as exc:
            _fail("head-bucket", self.name, exc, missing_ok=False)

    async def presign(self, key: str, path: str, method: str, expires: int) -> str:
        c = await self.client()
        operation = {"GET": "get_object", "HEAD": "head_object"}[method]
        with translate("presign", path, missing_ok=False):
            return await c.generate_presigned_url(
                operation, Params={"Bucket": self.name, "Key": key}, ExpiresIn=expires
            )


async def gather_limited(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the jobs at most `limit` at a time; the first failure cancels the rest."""
    sem = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await job()

    tasks = [asyncio.ensure_future(run(j)) for j in jobs]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
