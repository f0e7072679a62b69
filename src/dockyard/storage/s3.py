"""S3 driver: any S3-compatible object store (AWS S3, MinIO, Ceph RGW, moto …).

Keys live under `settings.prefix` in `settings.bucket`. Region, endpoint and
path-style addressing come from the settings and credentials from the settings
or botocore's standard chain; nothing here knows whether it talks to AWS.

Library: aiobotocore, chosen by measurement (bench/s3_clients.py, this 2-core
machine, moto's server on loopback; docs/storage.md has the table). Against
obstore and opendal it moved a 256 MiB object as fast or faster where the
server was not the limit (GET ~1.0 GB/s vs ~0.77 and ~0.72; PUT ~140 MB/s,
all three bounded by moto at 140-240 MB/s), and it costs more per small
request (median ~6 ms vs 3-4 ms for a 1 KiB PUT/GET/HEAD, ~2.7 ms of client
CPU vs ~1). What decided it is API coverage: obstore and opendal expose
put/get/copy/sign/list but not UploadPartCopy, ListParts,
ListMultipartUploads or HeadBucket, which assembling a blob server side and
aborting stray multipart uploads need; aiobotocore is the full S3 API with
maintained type stubs.

How uploads are stored. An upload is appended to by many requests that may
land on different workers or replicas, and `registry/hashing.py` re-reads the
bytes of an upload *in progress* when a request lands on a worker that missed
earlier chunks. S3 cannot read the parts of an unfinished multipart upload,
so an upload is not one live multipart upload. It is a chain of ordinary
objects, `<key>/~parts/<first byte>` (s3_upload.py): every piece but the last
is at least S3's 5 MiB minimum part size, a writer PUTs a piece each time its
one-part buffer fills, `commit()` PUTs the (short) tail, and the next writer,
anywhere, recovers the whole state with one ListObjectsV2 (plus one GET of a
tail under 5 MiB, which it rewrites longer). A writer opened below the stored
size deletes the pieces past it and cuts the one that straddles it.
`move()` then builds the content-addressed object with one multipart upload
whose parts are the pieces, by UploadPartCopy: the bytes never leave the
object store, and it is the same single server-side copy a live multipart
upload would have needed, since its key cannot be the digest's before the
digest is known.

A key is therefore either a plain object (put_content, move targets: blobs)
or a chain of pieces; a plain object wins if both exist, and writing to a
plain key first turns it into pieces. Key components starting with `~` are
reserved. `reader()` streams ranged GETs (one per piece), resuming a broken
connection from the byte it stopped at. `delete()` of a prefix removes every
object under it with DeleteObjects in batches and aborts the multipart uploads
in progress under it (a move interrupted midway).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from dockyard.storage.base import (
    DeleteFailed,
    FileInfo,
    InvalidOffset,
    PathNotFound,
    StorageError,
)
from dockyard.storage.layout import check_key
from dockyard.storage.s3_bucket import S3Bucket
from dockyard.storage.s3_options import S3Options
from dockyard.storage.s3_upload import (
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    PIECES,
    Loaded,
    S3Writer,
    check_assemblable,
    load_pieces,
    open_writer,
    piece_key,
    spans,
)

MiB = 1 << 20
COPY_OBJECT_MAX = 64 * MiB  # larger plain objects are copied in parallel ranged parts


class S3Driver:
    name = "s3"

    def __init__(self, settings: S3Options) -> None:
        self.settings = settings
        self._bucket = S3Bucket(settings)
        prefix = settings.prefix.strip("/")
        self._root = f"{prefix}/" if prefix else ""

    def _key(self, path: str) -> str:
        return self._root + check_key(path)

    async def close(self) -> None:
        await self._bucket.close()

    # -- reading --------------------------------------------------------------------

    async def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        info = await self._bucket.head(key, path)
        if info is not None:
            return FileInfo(path, info.size, info.modified)
        chain, _ = await load_pieces(self._bucket, key, path)
        if not chain:
            raise PathNotFound(path)
        return FileInfo(path, chain[-1].end, max(p.modified for p in chain))

    async def get_content(self, path: str) -> bytes:
        key = self._key(path)
        try:
            return await self._bucket.get(key, path)
        except PathNotFound:
            pass
        chain, _ = await load_pieces(self._bucket, key, path)
        if not chain:
            raise PathNotFound(path)
        return b"".join([await self._bucket.get(p.key, path) for p in chain])

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self._key(path)
        if offset < 0 or (length is not None and length < 0):
            raise StorageError(f"read {path}: negative offset or length")
        if length == 0:
            await self.stat(path)  # PathNotFound if missing
            return
        end = None if length is None else offset + length
        started = False
        try:
            async for chunk in self._bucket.stream(key, path, offset, end):
                started = True
                yield chunk
            return
        except PathNotFound:
            if started:
                raise
        chain, _ = await load_pieces(self._bucket, key, path)  # an upload in progress
        if not chain:
            raise PathNotFound(path)
        for piece, lo, hi in spans(chain, offset, chain[-1].end if end is None else end):
            async for chunk in self._bucket.stream(piece.key, path, lo, hi):
                yield chunk

    async def list(self, prefix: str) -> list[str]:
        key = self._key(prefix)
        keys, prefixes = await self._bucket.list_children(key + "/", prefix)
        skip = len(key) + 1
        names = {k[skip:] for k in keys} | {p[skip:-1] for p in prefixes}
        names -= {"", PIECES}
        if not names:
            raise PathNotFound(prefix)
        base = "/".join(prefix.rstrip("/").split("/"))
        return sorted(f"{base}/{n}" for n in names)

    # -- writing --------------------------------------------------------------------

    async def put_content(self, path: str, data: bytes) -> None:
        await self._bucket.put(self._key(path), path, data)

    async def writer(self, path: str, offset: int = 0) -> S3Writer:
        key = self._key(path)
        if offset < 0:
            raise InvalidOffset(path, offset)
        plain, loaded = await asyncio.gather(
            self._bucket.head(key, path), load_pieces(self._bucket, key, path)
        )
        part_size = self.settings.part_size
        if plain is None:
            return await open_writer(self._bucket, key, path, offset, part_size, loaded)
        await self._to_pieces(key, path, plain.size, offset, loaded)
        return await open_writer(self._bucket, key, path, offset, part_size)

    async def _to_pieces(self, key: str, path: str, size: int, offset: int, loaded: Loaded) -> None:
        """Turn a plain object into a one-piece chain of its first `offset` bytes."""
        if offset > size:
            raise InvalidOffset(path, offset)
        if offset > MAX_PART:
            raise StorageError(f"write {path}: cannot append to a plain object over 5 GiB")
        chain, debris = loaded
        stale = [p.key for p in chain] + debris
        if stale:
            await self._bucket.delete(stale, path)
        first = piece_key(key, 0)
        if offset == size and offset > 0:
            await self._bucket.copy(key, first, path)
        elif 0 < offset < MIN_PART:
            await self._bucket.put(first, path, await self._bucket.get(key, path, 0, offset))
        elif offset > 0:
            await self._bucket.multipart_copy(first, [(key, (0, offset))], path)
        await self._bucket.delete([key], path)

    async def move(self, src: str, dst: str) -> None:
        s, d = self._key(src), self._key(dst)
        plain, (chain, debris) = await asyncio.gather(
            self._bucket.head(s, src), load_pieces(self._bucket, s, src)
        )
        if plain is not None:
            await self._copy_plain(s, d, plain.size, src)
            doomed = [s]
        elif chain:
            check_assemblable(chain, src)
            if len(chain) == 1:
                await self._bucket.copy(chain[0].key, d, src)
            else:
                await self._bucket.multipart_copy(d, [(p.key, None) for p in chain], src)
            doomed = []
        else:
            raise PathNotFound(src)
        await self._bucket.delete(doomed + [p.key for p in chain] + debris, src)

    async def _copy_plain(self, src: str, dst: str, size: int, path: str) -> None:
        if size <= COPY_OBJECT_MAX:
            await self._bucket.copy(src, dst, path)
            return
        step = max(self.settings.part_size, COPY_OBJECT_MAX, -(-size // MAX_PARTS))
        step = min(step, MAX_PART)
        ranges = [(src, (lo, min(size, lo + step))) for lo in range(0, size, step)]
        await self._bucket.multipart_copy(dst, list(ranges), path)

    async def delete(self, path: str) -> None:
        key = self._key(path)
        plain, under, uploads = await asyncio.gather(
            self._bucket.head(key, path),
            self._bucket.list_objects(key + "/", path),
            self._bucket.multipart_uploads(key, path),
        )
        doomed = ([key] if plain is not None else []) + [o.key for o in under]
        stray = [(k, u) for k, u in uploads if k == key or k.startswith(key + "/")]
        if not doomed and not stray:
            raise PathNotFound(path)
        for k, upload_id in stray:
            await self._bucket.abort(k, upload_id, path)
        await self._bucket.delete(doomed, path)

    async def delete_many(self, paths: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys a call, several calls at once (s3_bucket.py)."""
        keys = {self._key(p): p for p in paths}
        failed = await self._bucket.delete_keys(list(keys))
        if failed:
            first_key, reason = failed[0]
            raise DeleteFailed(
                [keys.get(k, k) for k, _ in failed], f"{keys.get(first_key, first_key)}: {reason}"
            )

    # -- serving --------------------------------------------------------------------

    def local_path(self, path: str) -> str | None:
        return None

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        if not self.settings.redirect or method not in ("GET", "HEAD"):
            return None
        key = self._key(path)
        return await self._bucket.presign(key, path, method, self.settings.redirect_expiry_seconds)

    async def ping(self) -> None:
        await self._bucket.head_bucket()
