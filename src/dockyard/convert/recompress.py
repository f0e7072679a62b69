"""One layer, gzip in, zstd out, streaming: the compressed bytes come from storage in
bounded chunks, each chunk is inflated and deflated again in a worker thread
(`asyncio.to_thread`: zlib and zstandard release the GIL), and the zstd bytes go on to
the upload service as they come. Nothing holds a whole layer: a chunk of input, the
inflated pieces of at most `PLAIN_PIECE` bytes it gives, and their zstd output.

While it streams, the transcoder hashes the uncompressed tar (the layer's diff_id, which
the config names and which must not change) and the zstd bytes (the new blob's digest,
which the upload is committed under)."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import AsyncIterator

import zstandard

CHUNK = 1 << 20
"""compressed input handed to the thread at a time"""
PLAIN_PIECE = 4 << 20
"""at most this many inflated bytes at once (a gzip bomb inflates piece by piece)"""
GZIP_WBITS = 16 + zlib.MAX_WBITS


class NotGzip(Exception):
    """The layer's bytes are not a valid gzip stream; the message says why."""


class Transcoder:
    """gzip → zstd, one call per input chunk (never two at once: the caller awaits each)."""

    def __init__(self, level: int, threads: int = 0) -> None:
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=threads, write_checksum=True
        )
        self._zstd = zstandard.ZstdCompressor(compression_params=params).compressobj()
        self._gzip = zlib.decompressobj(GZIP_WBITS)
        self._plain = hashlib.sha256()
        self._out = hashlib.sha256()
        self.plain_size = 0
        self.size = 0
        self.read = 0

    @property
    def diff_id(self) -> str:
        return f"sha256:{self._plain.hexdigest()}"

    @property
    def digest(self) -> str:
        return f"sha256:{self._out.hexdigest()}"

    def feed(self, data: bytes) -> bytes:
        """Inflate `data`, deflate what it gives; the zstd bytes ready so far."""
        self.read += len(data)
        out: list[bytes] = []
        full = False  # the last piece filled PLAIN_PIECE: zlib may hold more output
        try:
            while data or full or (self._gzip.eof and self._gzip.unused_data.strip(b"\0")):
                if self._gzip.eof:  # a multi-member gzip (pigz, concatenated): the next
                    data = self._gzip.unused_data + data
                    if not data.strip(b"\0"):  # zeros after the end: padding some tools write
                        break
                    self._gzip = zlib.decompressobj(GZIP_WBITS)
                    continue
                piece = self._gzip.decompress(data, PLAIN_PIECE)
                data = self._gzip.unconsumed_tail
                full = len(piece) == PLAIN_PIECE
                if piece:
                    self._plain.update(piece)
                    self.plain_size += len(piece)
                    out.append(self._zstd.compress(piece))
        except zlib.error as exc:
            raise NotGzip(f"not valid gzip at compressed byte ~{self.read}: {exc}") from None
        return self._emit(out)

    def finish(self) -> bytes:
        """The end of the input: the gzip stream must be complete."""
        if self.read == 0:
            raise NotGzip("the layer is empty")
        if not self._gzip.eof:
            raise NotGzip(f"gzip stream truncated after {self.read} compressed bytes")
        return self._emit([self._zstd.flush()])

    def _emit(self, parts: list[bytes]) -> bytes:
        data = b"".join(p for p in parts if p)
        if data:
            self._out.update(data)
            self.size += len(data)
        return data


async def rechunk(source: AsyncIterator[bytes], size: int = CHUNK) -> AsyncIterator[bytes]:
    """`source`'s bytes in pieces of about `size` (storage readers yield what they like)."""
    parts: list[bytes] = []
    held = 0
    async for chunk in source:
        if not chunk:
            continue
        parts.append(bytes(chunk))
        held += len(chunk)
        if held >= size:
            yield b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


async def transcode(source: AsyncIterator[bytes], transcoder: Transcoder) -> AsyncIterator[bytes]:
    """The zstd bytes of the gzip layer `source`, the CPU work in a thread per chunk."""
    async for chunk in rechunk(source):
        out = await asyncio.to_thread(transcoder.feed, chunk)
        if out:
            yield out
    tail = await asyncio.to_thread(transcoder.finish)
    if tail:
        yield tail
