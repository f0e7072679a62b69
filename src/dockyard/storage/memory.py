"""In-memory driver for tests and throwaway instances. Same contract as the others."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from dockyard.storage.base import FileInfo, InvalidOffset, PathNotFound
from dockyard.storage.layout import check_key


class _Entry:
    __slots__ = ("data", "modified")

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.modified = time.time()


class _MemWriter:
    def __init__(self, entry: _Entry, offset: int) -> None:
        self._entry = entry
        self._start = offset

    @property
    def size(self) -> int:
        return len(self._entry.data)

    async def write(self, data: bytes) -> None:
        self._entry.data += data
        self._entry.modified = time.time()

    async def commit(self) -> None:
        return None

    async def cancel(self) -> None:
        del self._entry.data[self._start :]

    async def close(self) -> None:
        return None


class MemoryDriver:
    name = "memory"

    def __init__(self) -> None:
        self._files: dict[str, _Entry] = {}

    @staticmethod
    def _check(path: str) -> str:
        return check_key(path)

    def _get(self, path: str) -> _Entry:
        entry = self._files.get(self._check(path))
        if entry is None:
            raise PathNotFound(path)
        return entry

    async def stat(self, path: str) -> FileInfo:
        entry = self._get(path)
        return FileInfo(path, len(entry.data), entry.modified)

    async def get_content(self, path: str) -> bytes:
        return bytes(self._get(path).data)

    async def put_content(self, path: str, data: bytes) -> None:
        self._files[self._check(path)] = _Entry(bytearray(data))

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self._get(path).data
        end = len(data) if length is None else min(len(data), offset + length)
        pos = offset
        while pos < end:
            step = min(1 << 20, end - pos)
            yield bytes(data[pos : pos + step])
            pos += step

    async def writer(self, path: str, offset: int = 0) -> _MemWriter:
        key = self._check(path)
        entry = self._files.get(key)
        if entry is None:
            if offset:
                raise InvalidOffset(path, offset)
            entry = self._files[key] = _Entry(bytearray())
        if offset > len(entry.data):
            raise InvalidOffset(path, offset)
        del entry.data[offset:]
        return _MemWriter(entry, offset)

    async def move(self, src: str, dst: str) -> None:
        src_key, dst_key = self._check(src), self._check(dst)  # both before popping
        entry = self._files.pop(src_key, None)
        if entry is None:
            raise PathNotFound(src)
        self._files[dst_key] = entry

    async def delete(self, path: str) -> None:
        key = self._check(path)
        doomed = [k for k in self._files if k == key or k.startswith(key + "/")]
        if not doomed:
            raise PathNotFound(path)
        for k in doomed:
            del self._files[k]

    async def delete_many(self, paths: Sequence[str]) -> None:
        keys = [self._check(p) for p in paths]
        for key in keys:
            self._files.pop(key, None)

    async def list(self, prefix: str) -> list[str]:
        base = self._check(prefix)
        children = {
            base + "/" + k[len(base) + 1 :].split("/", 1)[0]
            for k in self._files
            if k.startswith(base + "/")
        }
        if not children:
            raise PathNotFound(prefix)
        return sorted(children)

    def local_path(self, path: str) -> str | None:
        return None

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return None

    async def ping(self) -> None:
        return None
