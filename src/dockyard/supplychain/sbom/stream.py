"""A layer's bytes, from the event loop to a worker thread: `ChunkSource` is a blocking
reader fed from an async iterator through a bounded queue (a few chunks in flight),
`decompressed` sniffs gzip / zstd / plain tar, and `Bounded` counts uncompressed bytes
and refuses a bomb (too large, or a ratio past its limit) while streaming."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import zlib
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import IO, Protocol, cast

import zstandard

from dockyard.supplychain.sbom import Limits

QUEUE_CHUNKS = 8
RATIO_FLOOR = 64 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Refused(Exception):
    """The layer is refused; the message is the one-line reason."""


class SourceFailed(Exception):
    """open_layer's iterator raised: the original exception is `.original`."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _End:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc


class ChunkSource:
    """Blocking read() over an async byte iterator; the thread calls read(), the loop
    runs pump(). close() (on the loop) unblocks a waiting reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes | _End] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        self._buf = memoryview(b"")
        self._eof = False
        self._closed = False
        self._waiting: concurrent.futures.Future[bytes | _End] | None = None
        self.consumed = 0
        """compressed bytes handed to the reader so far"""

    async def pump(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                if chunk:
                    await self._queue.put(bytes(chunk))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._queue.put(_End(exc))
            return
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with suppress(Exception):
                    await aclose()
        await self._queue.put(_End(None))

    def close(self) -> None:
        self._closed = True
        if self._waiting is not None:
            self._waiting.cancel()

    def _fill(self) -> bool:
        """Fetch the next chunk into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        if self._closed:
            raise Refused("reading was abandoned")
        fut = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop)
        self._waiting = fut
        if self._closed:  # close() may have run before _waiting was set
            fut.cancel()
        try:
            item = fut.result()
        except concurrent.futures.CancelledError:
            raise Refused("reading was abandoned") from None
        finally:
            self._waiting = None
        if isinstance(item, _End):
            self._eof = True
            if item.exc is not None:
                raise SourceFailed(item.exc)
            return False
        self._buf = memoryview(item)
        self.consumed += len(item)
        return True

    def peek(self, n: int) -> bytes:
        """At least n bytes ahead (fewer at the end), without consuming them."""
        while len(self._buf) < n:
            rest = bytes(self._buf)
            if not self._fill():
                self._buf = memoryview(rest)
                break
            self._buf = memoryview(rest + bytes(self._buf))
        return bytes(self._buf[:n])

    def read(self, size: int = -1, /) -> bytes:
        if not self._buf and not self._fill():
            return b""
        if size < 0 or size >= len(self._buf):
            out = bytes(self._buf)
            self._buf = memoryview(b"")
            return out
        out = bytes(self._buf[:size])
        self._buf = self._buf[size:]
        return out


def decompressed(source: ChunkSource) -> tuple[Reader, str]:
    """A reader of the layer's tar bytes, and the compression found by its magic."""
    head = source.peek(4)
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=cast(IO[bytes], source), mode="rb"), "gzip"
    if head.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], source), read_across_frames=True
        )
        return reader, "zstd"
    return source, "none"


class Bounded:
    """Counts the uncompressed bytes read and refuses past the limits."""

    def __init__(
        self, inner: Reader, source: ChunkSource, limits: Limits, compression: str
    ) -> None:
        self._inner = inner
        self._compression = compression
        self._source = source
        self._limits = limits
        self.total = 0

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self._inner.read(size)
        except (EOFError, zlib.error, zstandard.ZstdError, OSError) as exc:
            # gzip.BadGzipFile is an OSError; tarfile would mislabel these
            raise Refused(f"truncated or corrupt {self._compression} stream: {exc}") from None
        self.total += len(data)
        limits = self._limits
        if self.total > limits.max_layer_bytes:
            raise Refused(f"more than {limits.max_layer_bytes} bytes uncompressed")
        if self.total > RATIO_FLOOR and self.total > limits.max_ratio * max(
            1, self._source.consumed
        ):
            raise Refused(
                f"compression ratio over {limits.max_ratio}:1 "
                f"({self.total} bytes from {self._source.consumed})"
            )
        return data
