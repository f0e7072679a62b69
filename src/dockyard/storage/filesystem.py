"""Filesystem driver: temp file, fsync, rename. A partial blob is never visible."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from dockyard.storage.base import (
    DeleteFailed,
    FileInfo,
    InvalidOffset,
    PathNotFound,
    StorageError,
    StorageFull,
)
from dockyard.storage.layout import check_key

READ_CHUNK = 1 << 20
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _failed(what: str, exc: OSError) -> StorageError:
    """The driver's error for an OSError; StorageFull when the disk or quota is full."""
    kind = StorageFull if exc.errno in _NO_SPACE else StorageError
    return kind(f"{what}: {exc.strerror}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FsWriter:
    """Appends with early writeback.

    Linux keeps written pages dirty until a large share of RAM is dirty, so a
    big upload would otherwise reach the disk only in the final fsync, after
    the whole body had arrived. Every FLUSH_EVERY bytes the writer starts an
    fdatasync in a thread while the body keeps streaming in, so writeback
    overlaps the transfer and the final fsync only has the tail to flush.
    """

    FLUSH_EVERY = 32 << 20

    def __init__(self, driver: FilesystemDriver, path: str, fd: int, offset: int) -> None:
        self._driver = driver
        self._path = path
        self._fd = fd
        self._start = offset
        self._size = offset
        self._unflushed = 0
        self._flush: asyncio.Future[None] | None = None

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        # Inline: a write into the page cache costs less than a thread hop.
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self._size += n
        except OSError as exc:
            raise _failed(f"write {self._path}", exc) from exc
        self._unflushed += len(data)
        if (
            self._driver.fsync
            and self._unflushed >= self.FLUSH_EVERY
            and (self._flush is None or self._flush.done())
        ):
            await self._settle()
            self._unflushed = 0
            self._flush = asyncio.ensure_future(asyncio.to_thread(os.fdatasync, self._fd))

    async def _settle(self) -> None:
        """Wait for a background flush (the fd must outlive it) and surface its error."""
        if self._flush is not None:
            flush, self._flush = self._flush, None
            try:
                await flush
            except OSError as exc:
                raise _failed(f"fdatasync {self._path}", exc) from exc

    async def commit(self) -> None:
        await self._settle()
        if not self._driver.fsync:
            return
        try:
            await asyncio.to_thread(os.fsync, self._fd)
        except OSError as exc:
            raise _failed(f"fsync {self._path}", exc) from exc

    async def cancel(self) -> None:
        with contextlib.suppress(StorageError):  # the bytes are being discarded anyway
            await self._settle()
        try:
            os.ftruncate(self._fd, self._start)
            os.lseek(self._fd, self._start, os.SEEK_SET)  # a later write continues from there
        except OSError as exc:
            raise StorageError(f"truncate {self._path}: {exc.strerror}") from exc
        self._size = self._start

    async def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(StorageError):
                await self._settle()
            os.close(self._fd)
            self._fd = -1


class FilesystemDriver:
    name = "filesystem"

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.fsync = fsync
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "_tmp").mkdir(exist_ok=True)

    def _full(self, path: str) -> Path:
        return self.root / check_key(path)

    async def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except FileNotFoundError:
            raise PathNotFound(path) from None
        except OSError as exc:
            raise StorageError(f"stat {path}: {exc.strerror}") from exc
        return FileInfo(path, st.st_size, st.st_mtime)

    async def get_content(self, path: str) -> bytes:
        try:
            return await asyncio.to_thread(self._full(path).read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise PathNotFound(path) from None
        except OSError as exc:
            raise StorageError(f"read {path}: {exc.strerror}") from exc

    def _put_sync(self, path: str, data: bytes) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "_tmp" / uuid.uuid4().hex
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, full)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(full.parent)

    async def put_content(self, path: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._put_sync, path, data)
        except OSError as exc:
            raise _failed(f"write {path}", exc) from exc

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            fd = os.open(self._full(path), os.O_RDONLY)
        except FileNotFoundError:
            raise PathNotFound(path) from None
        except OSError as exc:
            raise StorageError(f"open {path}: {exc.strerror}") from exc
        try:
            remaining = length
            pos = offset
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(os.pread, fd, want, pos)
                if not chunk:
                    break
                pos += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def _open_writer(self, path: str, offset: int) -> int:
        full = self._full(path)
        if offset == 0:
            full.parent.mkdir(parents=True, exist_ok=True)
        try:
            # only offset 0 creates: a bad offset must not leave an empty file behind
            fd = os.open(full, os.O_WRONLY | (os.O_CREAT if offset == 0 else 0), 0o644)
        except FileNotFoundError:
            raise InvalidOffset(path, offset) from None
        try:
            size = os.fstat(fd).st_size
            if offset > size:
                raise InvalidOffset(path, offset)
            if size != offset:
                os.ftruncate(fd, offset)  # drop bytes of an interrupted earlier write
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def writer(self, path: str, offset: int = 0) -> _FsWriter:
        try:
            fd = self._open_writer(path, offset)
        except OSError as exc:
            raise _failed(f"open {path}", exc) from exc
        return _FsWriter(self, path, fd, offset)

    def _move_sync(self, src: str, dst: str) -> None:
        s, d = self._full(src), self._full(dst)
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(s, d)
        except FileNotFoundError:
            raise PathNotFound(src) from None
        _fsync_dir(d.parent)

    async def move(self, src: str, dst: str) -> None:
        try:
            await asyncio.to_thread(self._move_sync, src, dst)
        except OSError as exc:
            raise _failed(f"move {src} -> {dst}", exc) from exc

    def _delete_sync(self, path: str) -> None:
        full = self._full(path)
        try:
            if full.is_dir():
                shutil.rmtree(full)
            else:
                full.unlink()
        except FileNotFoundError:
            raise PathNotFound(path) from None

    async def delete(self, path: str) -> None:
        try:
            await asyncio.to_thread(self._delete_sync, path)
        except OSError as exc:
            raise StorageError(f"delete {path}: {exc.strerror}") from exc

    def _delete_many_sync(self, fulls: list[tuple[str, Path]]) -> list[tuple[str, str]]:
        failed = []
        for path, full in fulls:
            try:
                full.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append((path, exc.strerror or str(exc)))
        return failed

    async def delete_many(self, paths: Sequence[str]) -> None:
        fulls = [(p, self._full(p)) for p in paths]  # every key checked before any goes
        failed: list[tuple[str, str]] = []
        step = 512  # unlinks per thread hop
        for i in range(0, len(fulls), step):
            failed += await asyncio.to_thread(self._delete_many_sync, fulls[i : i + step])
        if failed:
            raise DeleteFailed([p for p, _ in failed], f"delete {failed[0][0]}: {failed[0][1]}")

    async def list(self, prefix: str) -> list[str]:
        full = self._full(prefix.rstrip("/"))
        try:
            names = sorted(os.listdir(full))
        except FileNotFoundError:
            raise PathNotFound(prefix) from None
        except NotADirectoryError:
            return []
        except OSError as exc:
            raise StorageError(f"list {prefix}: {exc.strerror}") from exc
        base = prefix.rstrip("/")
        return [f"{base}/{n}" for n in names]

    def local_path(self, path: str) -> str | None:
        return str(self._full(path))

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return None

    async def ping(self) -> None:
        probe = self.root / "_tmp"
        if not os.access(probe, os.W_OK):
            raise StorageError(f"storage root {self.root} is not writable")
        try:
            os.statvfs(self.root)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                raise StorageError(f"statvfs {self.root}: {exc.strerror}") from exc
