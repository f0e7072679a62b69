"""The StorageDriver protocol: a dozen async methods over a flat key space.

Keys are `/`-separated relative paths built only by `storage.layout`; drivers
translate backend errors (OSError, botocore …) into the exceptions below and
never let one escape (DESIGN.md convention 4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """A storage backend failed; the message names the operation and the key."""


class StorageFull(StorageError):
    """The backend has no space left (ENOSPC, EDQUOT): retryable, not a bug."""


class PathNotFound(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


class DeleteFailed(StorageError):
    """`delete_many` could not delete some keys; `paths` names them (the rest went)."""

    def __init__(self, paths: Sequence[str], reason: str) -> None:
        shown = ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")
        super().__init__(f"{len(paths)} key(s) not deleted ({shown}): {reason}")
        self.paths = list(paths)


class InvalidOffset(StorageError):
    def __init__(self, path: str, offset: int) -> None:
        super().__init__(f"invalid offset {offset} for {path}")
        self.path = path
        self.offset = offset


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    modified: float


class FileWriter(Protocol):
    """Appends to one key. Nothing is visible under the key's final name until
    the caller moves it there; `commit` makes the written bytes durable."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None: ...

    async def cancel(self) -> None:
        """Discard everything written through this writer (back to the start offset)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class StorageDriver(Protocol):
    name: str

    async def stat(self, path: str) -> FileInfo: ...

    async def get_content(self, path: str) -> bytes: ...

    async def put_content(self, path: str, data: bytes) -> None:
        """Atomically replace the content of `path`."""
        ...

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (or to the end) from `offset`; PathNotFound if missing."""
        ...

    async def writer(self, path: str, offset: int = 0) -> FileWriter:
        """Open `path` for appending at `offset` (0 creates it); bytes past `offset`
        from an interrupted earlier write are discarded."""
        ...

    async def move(self, src: str, dst: str) -> None:
        """Atomically make `src`'s content visible at `dst` (replacing it)."""
        ...

    async def delete(self, path: str) -> None:
        """Delete a key or everything under a prefix; PathNotFound if nothing was there."""
        ...

    async def delete_many(self, paths: Sequence[str]) -> None:
        """Delete many keys of stored content (put_content or move targets, such as
        blobs), in as few backend calls as it takes; a key already missing is not an
        error. DeleteFailed names the keys that could not be deleted (every other one
        was). Prefixes and keys being written go through `delete`."""
        ...

    async def list(self, prefix: str) -> list[str]:
        """Direct children (full keys) of a prefix, sorted."""
        ...

    def local_path(self, path: str) -> str | None:
        """A filesystem path the server may send with zero copy, if the driver has one."""
        ...

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A presigned URL clients can fetch directly, if the driver offers one."""
        ...

    async def ping(self) -> None:
        """Raise StorageError unless the backend is reachable and usable."""
        ...
