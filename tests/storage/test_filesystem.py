"""The filesystem driver: the shared conformance suite, plus what only a
filesystem can get wrong (partial files under final names, keys escaping the root)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageError
from dockyard.storage.filesystem import FilesystemDriver
from tests.storage.conformance import DriverConformance, read_all

MiB = 1 << 20


class TestFilesystemDriver(DriverConformance):
    @pytest.fixture
    async def driver(self, tmp_path: Path) -> AsyncIterator[FilesystemDriver]:
        yield FilesystemDriver(tmp_path / "storage")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def fs(root: Path) -> FilesystemDriver:
    return FilesystemDriver(root)


def read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def is_inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def tree(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


def files_under(path: Path) -> Iterator[Path]:
    for dirpath, _, names in os.walk(path):
        for name in names:
            yield Path(dirpath) / name


# -- no partial file is ever visible under a blob key ---------------------------


async def test_writer_bytes_live_only_at_the_upload_key(fs: FilesystemDriver, root: Path) -> None:
    chunks = [os.urandom(MiB) for _ in range(4)]
    digest = "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest()
    blob_key = layout.blob_path(digest)
    upload_key = layout.upload_data_path(uuid.uuid4().hex)

    def assert_no_blob() -> None:
        assert not (root / blob_key).exists()
        assert list(files_under(root / "blobs")) == []

    w = await fs.writer(upload_key)
    for chunk in chunks:
        await w.write(chunk)
        assert_no_blob()
    await w.commit()
    await w.close()
    assert_no_blob()
    with pytest.raises(PathNotFound):
        await fs.stat(blob_key)

    await fs.move(upload_key, blob_key)
    assert (root / blob_key).read_bytes() == b"".join(chunks)
    assert not (root / upload_key).exists()


async def test_cancelled_upload_leaves_nothing_under_blobs(
    fs: FilesystemDriver, root: Path
) -> None:
    upload_key = layout.upload_data_path(uuid.uuid4().hex)
    w = await fs.writer(upload_key)
    await w.write(b"x" * MiB)
    await w.cancel()
    await w.close()
    assert list(files_under(root / "blobs")) == []


async def test_move_renames_a_complete_file(
    fs: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * MiB)
    upload_key = layout.upload_data_path(uuid.uuid4().hex)
    blob_key = layout.blob_path("sha256:" + hashlib.sha256(data).hexdigest())
    w = await fs.writer(upload_key)
    await w.write(data)
    await w.commit()
    await w.close()

    seen: list[tuple[int, bool]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append((os.stat(src).st_size, os.path.exists(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    await fs.move(upload_key, blob_key)
    assert seen == [(len(data), False)]


async def test_put_content_writes_a_temp_file_then_renames(
    fs: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "repositories/x/_manifests/latest/link"
    await fs.put_content(key, b"old")
    seen: list[tuple[Path, bytes, bytes]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        # at the moment of the rename the temp file is complete and the key
        # still holds the previous content
        seen.append((Path(src).parent, Path(src).read_bytes(), Path(dst).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    new = os.urandom(2 * MiB)
    await fs.put_content(key, new)
    assert len(seen) == 1
    tmp_dir, tmp_content, old = seen[0]
    assert tmp_dir != (root / key).parent  # not beside the key, where a lister would see it
    assert tmp_content == new
    assert old == b"old"
    assert (root / key).read_bytes() == new
    assert list((root / "_tmp").iterdir()) == []


async def test_failed_put_keeps_old_content_and_no_temp_file(
    fs: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fs.put_content("k/v", b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match="No space left"):
        await fs.put_content("k/v", b"new content")
    monkeypatch.undo()
    assert await fs.get_content("k/v") == b"old"
    assert list((root / "_tmp").iterdir()) == []


# -- keys cannot escape the root -----------------------------------------------

ESCAPES = ["../outside/x", "a/../../outside/x", "..", "a/b/../../../outside/x"]


@pytest.mark.parametrize("key", ESCAPES)
async def test_keys_cannot_escape_root(
    fs: FilesystemDriver, root: Path, tmp_path: Path, key: str
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x").write_bytes(b"secret")
    await fs.put_content("inside", b"in")
    before = tree(tmp_path)

    with pytest.raises(StorageError):
        await fs.get_content(key)
    with pytest.raises(StorageError):
        await read_all(fs, key)
    with pytest.raises(StorageError):
        await fs.stat(key)
    with pytest.raises(StorageError):
        await fs.put_content(key, b"overwritten")
    with pytest.raises(StorageError):
        await fs.writer(key)
    with pytest.raises(StorageError):
        await fs.move("inside", key)
    with pytest.raises(StorageError):
        await fs.move(key, "stolen")
    with pytest.raises(StorageError):
        await fs.delete(key)
    with pytest.raises(StorageError):
        await fs.list(key)
    with pytest.raises(StorageError):
        fs.local_path(key)

    assert (tmp_path / "outside" / "x").read_bytes() == b"secret"
    assert tree(tmp_path) == before


async def test_absolute_key_is_not_a_host_path(fs: FilesystemDriver, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    with pytest.raises(StorageError):
        await fs.get_content(str(secret))
    with pytest.raises(StorageError):
        await fs.put_content(str(secret), b"pwned")
    with pytest.raises(StorageError):
        await fs.delete(str(secret))
    assert secret.read_bytes() == b"secret"


async def test_local_path_is_under_root(fs: FilesystemDriver, root: Path) -> None:
    await fs.put_content("a/b", b"x")
    local = fs.local_path("a/b")
    assert local is not None
    assert is_inside(Path(local), root)
    assert read(local) == b"x"


async def test_ping_fails_on_read_only_root(fs: FilesystemDriver, root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    (root / "_tmp").chmod(0o500)
    try:
        with pytest.raises(StorageError, match="not writable"):
            await fs.ping()
    finally:
        (root / "_tmp").chmod(0o700)
