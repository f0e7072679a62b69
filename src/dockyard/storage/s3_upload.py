"""Appendable keys on S3: pieces, the writer, and assembling a blob server side.

How a key written through `writer()` is stored (see the S3 driver's docstring
for why not one live multipart upload):

    <key>/~parts/<start, 16 digits>    one object per piece, named by its first byte

The content of the key is the chain of pieces that starts at byte 0, each
piece starting where the one before ends; anything after a gap or overlap is
debris of an interrupted write and is deleted by the next writer. Every piece
except the last is at least S3's 5 MiB minimum part size, so a move can turn
each piece into one part of a multipart upload by UploadPartCopy, without the
bytes leaving the object store. The state of an upload is therefore one
ListObjectsV2 away for any process: no writer state lives in memory between
requests.

A writer fills a buffer of `target_size` bytes (the configured part size)
and PUTs it as the next piece as soon as it is full, so memory per writer is
one part, however large the blob. `commit()` PUTs what is buffered as the
(last, possibly short) piece. The next writer, in the same process or another
replica, re-reads that short last piece if it is under 5 MiB and rewrites it
longer, which keeps every inner piece above the minimum; a last piece of
5 MiB or more is left alone and the next piece starts after it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from dockyard.storage.base import InvalidOffset, StorageError
from dockyard.storage.s3_bucket import ObjectInfo, S3Bucket

log = logging.getLogger(__name__)

MiB = 1 << 20
GiB = 1 << 30
MIN_PART = 5 * MiB  # S3: every part of a multipart upload but the last
MAX_PART = 5 * GiB  # S3: largest part, and largest CopyObject source
MAX_PARTS = 10_000  # S3: parts of one multipart upload
PIECES = "~parts"
_DIGITS = 16


def pieces_prefix(key: str) -> str:
    return f"{key}/{PIECES}/"


def piece_key(key: str, start: int) -> str:
    return f"{pieces_prefix(key)}{start:0{_DIGITS}d}"


@dataclass(frozen=True, slots=True)
class Piece:
    key: str
    start: int
    size: int
    modified: float

    @property
    def end(self) -> int:
        return self.start + self.size


Loaded = tuple[list[Piece], list[str]]  # a key's chain of pieces, and debris keys


def target_size(part_size: int, start: int) -> int:
    """Size of the piece that starts at `start`: the part size, growing past
    1000 parts so that even a 5 TiB blob stays under S3's 10,000 parts."""
    grown = -(-(start // 1000) // MiB) * MiB
    return min(MAX_PART, max(part_size, grown))


def parse_pieces(key: str, objects: list[ObjectInfo]) -> Loaded:
    """Split a listing of `<key>/~parts/` into the chain from byte 0 and debris."""
    prefix = pieces_prefix(key)
    found: dict[int, Piece] = {}
    debris: list[str] = []
    for o in objects:
        name = o.key[len(prefix) :]
        if len(name) == _DIGITS and name.isdigit():
            found[int(name)] = Piece(o.key, int(name), o.size, o.modified)
        else:
            debris.append(o.key)
    chain: list[Piece] = []
    pos = 0
    while pos in found:
        piece = found.pop(pos)
        chain.append(piece)
        if piece.size == 0:
            break  # only an empty key has an empty piece
        pos = piece.end
    debris.extend(p.key for p in found.values())
    return chain, debris


async def load_pieces(bucket: S3Bucket, key: str, path: str) -> Loaded:
    return parse_pieces(key, await bucket.list_objects(pieces_prefix(key), path))


class PieceBuffer(io.BytesIO):
    """The bytes of one piece, sent as the PUT body without a copy.

    aiohttp copies a bytes or bytearray body whole (a bytearray twice, then the
    socket buffer); a BytesIO it reads in 64 KiB slices, and one that was only
    ever written to shares its buffer. It also closes a BytesIO body once sent;
    this one stays open, so botocore can rewind it for a retry and the writer
    can keep appending to it after a commit."""

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return self.getbuffer().nbytes

    def append(self, data: memoryview | bytes) -> None:
        self.seek(0, io.SEEK_END)
        self.write(data)


class S3Writer:
    """Appends to one key as pieces. See the module docstring."""

    def __init__(
        self,
        bucket: S3Bucket,
        key: str,
        path: str,
        offset: int,
        tail: Piece | None,
        tail_bytes: bytes,
        part_size: int,
    ) -> None:
        self._bucket = bucket
        self._key = key
        self._path = path
        self._part_size = part_size
        self._start = offset  # where this writer began: cancel() returns here
        # the short stored last piece it took over and will rewrite longer
        self._tail = tail
        self._tail_bytes = tail_bytes
        self._buf = PieceBuffer(tail_bytes)  # bytes of the piece at _buf_start
        self._buf_start = tail.start if tail is not None else offset
        self._size = offset
        self._written: set[int] = set()  # starts of the pieces this writer PUT
        self._dirty = False  # bytes written since the store last matched [0, size)
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise StorageError(f"write {self._path}: writer is closed")
        view = memoryview(data)
        while view:
            target = target_size(self._part_size, self._buf_start)
            taken = min(target - len(self._buf), len(view))
            self._buf.append(view[:taken])
            view = view[taken:]
            self._size += taken
            self._dirty = True
            if len(self._buf) >= target:
                await self._store_buffer()
                self._buf_start += len(self._buf)
                self._buf = PieceBuffer()

    async def _store_buffer(self) -> None:
        self._written.add(self._buf_start)  # before the PUT: cancel() must see a torn one
        self._buf.seek(0)
        await self._bucket.put(piece_key(self._key, self._buf_start), self._path, self._buf)

    async def commit(self) -> None:
        """Store the buffered bytes as the last piece: everything written is durable."""
        if self._dirty and len(self._buf):
            await self._store_buffer()
        self._dirty = False

    async def cancel(self) -> None:
        """Delete the pieces this writer stored and put back the tail it took over."""
        tail_start = self._tail.start if self._tail is not None else -1
        doomed = [piece_key(self._key, s) for s in sorted(self._written) if s != tail_start]
        if doomed:
            await self._bucket.delete(doomed, self._path)
        if tail_start in self._written:
            await self._bucket.put(piece_key(self._key, tail_start), self._path, self._tail_bytes)
        self._written.clear()
        self._buf = PieceBuffer(self._tail_bytes)
        self._buf_start = self._tail.start if self._tail is not None else self._start
        self._size = self._start
        self._dirty = False

    async def close(self) -> None:
        """Drop what was never committed (the next writer deletes stored debris)."""
        self._closed = True
        self._buf = PieceBuffer()


async def open_writer(
    bucket: S3Bucket,
    key: str,
    path: str,
    offset: int,
    part_size: int,
    loaded: Loaded | None = None,
) -> S3Writer:
    """Bring the stored pieces to exactly [0, offset) and return a writer there.

    `loaded` is a fresh `load_pieces()` result, if the caller has one. `key`
    must not also exist as a plain object (the driver converts those first)."""
    chain, debris = loaded if loaded is not None else await load_pieces(bucket, key, path)
    size = chain[-1].end if chain else 0
    if offset > size:
        raise InvalidOffset(path, offset)
    keep = [p for p in chain if p.start < offset or p.start == 0]
    doomed = debris + [p.key for p in chain[len(keep) :]]
    if doomed:
        # bytes past `offset` were never acknowledged: an interrupted earlier write
        await bucket.delete(doomed, path)
    if not keep:  # offset 0 creates the key, as an empty first piece
        await bucket.put(piece_key(key, 0), path, b"")
        return S3Writer(bucket, key, path, 0, Piece(piece_key(key, 0), 0, 0, 0.0), b"", part_size)
    last = keep[-1]
    tail: bytes | None = None
    if last.end > offset:  # the last kept piece runs past `offset`: cut it there
        tail = await bucket.get(last.key, path, 0, offset - last.start) if offset else b""
        await bucket.put(last.key, path, tail)
    elif last.size < MIN_PART:  # short: the writer rewrites it longer
        tail = await bucket.get(last.key, path) if last.size else b""
    if tail is None or len(tail) >= MIN_PART:  # long enough: the next piece follows it
        return S3Writer(bucket, key, path, offset, None, b"", part_size)
    return S3Writer(bucket, key, path, offset, last, tail, part_size)


def spans(chain: list[Piece], offset: int, end: int) -> list[tuple[Piece, int, int]]:
    """The (piece, start, end) ranges, relative to each piece, covering [offset, end)."""
    out: list[tuple[Piece, int, int]] = []
    for p in chain:
        lo, hi = max(offset, p.start), min(end, p.end)
        if lo < hi:
            out.append((p, lo - p.start, hi - p.start))
    return out


def check_assemblable(chain: list[Piece], path: str) -> None:
    if len(chain) > MAX_PARTS:
        raise StorageError(f"move {path}: {len(chain)} pieces, more than S3's {MAX_PARTS} parts")
    short = [p for p in chain[:-1] if p.size < MIN_PART]
    if short:
        raise StorageError(f"move {path}: inner piece at byte {short[0].start} is under 5 MiB")
