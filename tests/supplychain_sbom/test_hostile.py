"""Hostile layers: bombs refused while streaming, garbage refused with a reason, odd
member names ignored; never a crash, never slow."""

from __future__ import annotations

import asyncio
import gzip
import io
import random
import tarfile
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import zstandard
from packageurl import PackageURL

from dockyard.supplychain.sbom import (
    Layer,
    LayerRefused,
    Limits,
    Subject,
    read_image,
    to_cyclonedx,
    to_spdx,
)
from tests.supplychain_sbom.helpers import names, read, streamed
from tests.support import images as im


def _zero_bomb(name: str, compression: str, size: int = 10 << 30) -> Iterator[bytes]:
    """A compressed tar holding one `size`-byte file of zeros, compressed on the fly."""
    comp: Any = (
        zlib.compressobj(6, zlib.DEFLATED, 31)
        if compression == "gzip"
        else zstandard.ZstdCompressor().compressobj()
    )
    ti = tarfile.TarInfo(name)
    ti.size = size
    yield comp.compress(ti.tobuf(format=tarfile.PAX_FORMAT))
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        yield comp.compress(zeros)
    yield comp.flush()


@pytest.mark.parametrize(
    ("name", "compression"),
    [("data/sparse.img", "gzip"), ("var/lib/dpkg/status", "gzip"), ("data/img", "zstd")],
)
async def test_a_10_gib_file_of_zeros_is_refused_by_its_ratio_early(
    name: str, compression: str
) -> None:
    layers, open_layer, pulled = streamed(lambda: _zero_bomb(name, compression))
    started = time.monotonic()
    with pytest.raises(LayerRefused, match=r"compression ratio over 200:1"):
        await read_image(layers, open_layer)
    assert time.monotonic() - started < 5
    assert pulled[0] < 200  # about 64 MiB of the 10 GiB were ever produced


async def test_a_layer_over_max_layer_bytes_is_refused() -> None:
    noise = random.Random(7).randbytes(300_000)
    layer = im.layer({"blob.bin": noise})
    with pytest.raises(LayerRefused, match=r"more than 100000 bytes uncompressed"):
        await read(layer, limits=Limits(max_layer_bytes=100_000))


async def test_too_many_members_is_refused() -> None:
    layer = im.layer({f"f{i}": b"x" for i in range(20)})
    with pytest.raises(LayerRefused, match="more than 10 tar members"):
        await read(layer, limits=Limits(max_members=10))


def _huge_pax_header() -> Iterator[bytes]:
    ti = tarfile.TarInfo("././@PaxHeader")
    ti.type = tarfile.XHDTYPE
    ti.size = 100 << 20
    yield ti.tobuf(format=tarfile.USTAR_FORMAT)
    for _ in range(100):
        yield b"9" * (1 << 20)


async def test_a_huge_pax_header_is_refused_before_it_is_read() -> None:
    layers, open_layer, pulled = streamed(_huge_pax_header, im.MT_TAR)
    with pytest.raises(LayerRefused, match=r"extended tar header of 104857600 bytes"):
        await read_image(layers, open_layer)
    assert pulled[0] < 4 + 8  # the header chunks and the queue's prefetch


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"just some text, not a tar archive at all" * 40, "not a tar archive"),
        (gzip.compress(b"\x01" * 5000, mtime=0), "not a tar archive"),
        (im.layer(im.npm_package("a", "1.0.0"))[:-40], "truncated or corrupt gzip stream"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 300, "truncated or corrupt gzip stream"),
        (im.ZSTD_MAGIC_FOR_TESTS + b"\xff" * 100, "truncated or corrupt zstd stream"),
    ],
    ids=["text", "gzip-of-garbage", "truncated-gzip", "bad-deflate", "bad-zstd"],
)
async def test_garbage_layers_are_refused_with_a_reason(blob: bytes, reason: str) -> None:
    with pytest.raises(LayerRefused) as caught:
        await read(blob)
    message = str(caught.value)
    assert message.startswith("layer sha256:") and reason in message and "\n" not in message


async def test_dot_dot_and_absolute_member_names() -> None:
    tar = im.tar_bytes(
        {
            "../../lib/apk/db/installed": im.apk_installed(
                [{"P": "evil", "V": "6.6.6", "A": "x86_64"}]
            )["lib/apk/db/installed"],
            "./etc/os-release": b"ID=alpine\nVERSION_ID=3.19.0\n",
            "/lib/apk/db/installed": im.apk_installed([{"P": "musl", "V": "1.2.4-r2"}])[
                "lib/apk/db/installed"
            ],
            "lib/../lib/apk/db/installed.x": b"",
        },
        raw_names=True,
    )
    contents = await read(im.compress(tar))
    assert names(contents) == [("apk", "musl", "1.2.4-r2")]
    assert contents.distro is not None and contents.distro.version_id == "3.19.0"


async def test_absolute_and_escaping_symlinks_are_never_followed() -> None:
    layer = im.layer(
        im.os_release("debian", "12", path="usr/lib/os-release"),
        symlinks={
            "etc/os-release": "/usr/lib/os-release",
            "var/lib/dpkg/status": "/etc/shadow",
            "lib/apk/db/installed": "../../../../../../etc/passwd",
        },
        hardlinks={"usr/lib/python3/dist-packages/x-1.dist-info/METADATA": "/etc/passwd"},
    )
    contents = await read(layer)
    assert contents.packages == () and contents.warnings == ()
    assert contents.distro is not None and contents.distro.id == "debian"


async def test_one_byte_chunks_and_concatenated_gzip_members() -> None:
    tar = im.tar_bytes(im.npm_package("tiny", "0.0.1"))
    blob = gzip.compress(tar[:3000], mtime=0) + gzip.compress(tar[3000:], mtime=0)
    layers, open_layer, _ = streamed(lambda: (blob[i : i + 1] for i in range(len(blob))))
    contents = await read_image(layers, open_layer)
    assert names(contents) == [("npm", "tiny", "0.0.1")]


async def test_a_storage_error_propagates_as_itself() -> None:
    async def open_layer(layer: Layer) -> AsyncIterator[bytes]:
        yield im.layer(im.npm_package("a", "1.0.0"))[:100]
        raise ConnectionResetError("storage went away")

    layers = [Layer("sha256:" + "1" * 64, im.MT_GZIP, 0)]
    with pytest.raises(ConnectionResetError, match="storage went away"):
        await read_image(layers, open_layer)


async def test_cancelling_closes_the_layer_stream() -> None:
    waiting = asyncio.Event()
    closed = asyncio.Event()
    blob = im.layer(im.npm_package("a", "1.0.0"))

    async def open_layer(layer: Layer) -> AsyncIterator[bytes]:
        try:
            yield blob[:50]
            waiting.set()
            await asyncio.Event().wait()  # storage stalls
            yield blob[50:]
        finally:
            closed.set()

    layers = [Layer("sha256:" + "2" * 64, im.MT_GZIP, 0)]
    task = asyncio.create_task(read_image(layers, open_layer))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()


async def test_mutated_layers_never_crash() -> None:
    rng = random.Random(11)
    files = {
        **im.os_release("debian", "12"),
        **im.dpkg_status([{"Package": "a", "Version": "1", "Architecture": "all"}]),
        **im.rpmdb_sqlite([{im.RPM_NAME: "b", im.RPM_VERSION: "1", im.RPM_RELEASE: "1"}]),
        **im.jar("g", "c", "1"),
        **im.go_binary("bin/d"),
        **im.npm_package("e", "1.0.0"),
        **im.python_dist_info("f", "1.0"),
    }
    for compression in ("gzip", "zstd", "none"):
        pristine = bytearray(im.layer(files, compression=compression))
        for _ in range(25):
            blob = bytearray(pristine)
            for _ in range(rng.randint(1, 8)):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            try:
                contents = await read(bytes(blob))
            except LayerRefused:
                continue
            for pkg in contents.packages:
                assert pkg.name and pkg.version
                assert PackageURL.from_string(pkg.purl).type == pkg.type


def test_zstd_magic_constant_matches() -> None:
    assert im.layer({}, compression="zstd")[:4] == im.ZSTD_MAGIC_FOR_TESTS


def _gnu_sparse_with_extensions() -> bytes:
    ti = tarfile.TarInfo("data/sparse")
    ti.type = tarfile.GNUTYPE_SPARSE
    block = bytearray(ti.tobuf(format=tarfile.GNU_FORMAT))
    block[482] = 1  # isextended: extension blocks follow
    block[148:156] = b" " * 8
    checksum = sum(block[:512])
    block[148:156] = b"%06o\0 " % checksum
    ext = bytearray(512)
    ext[504] = 1  # and another, and another...
    return bytes(block[:512]) + bytes(ext) * 1000


async def test_old_gnu_sparse_extension_blocks_are_refused() -> None:
    with pytest.raises(LayerRefused, match="old GNU sparse member with extension blocks"):
        await read(im.compress(_gnu_sparse_with_extensions()))


async def test_member_names_that_are_not_utf8_reach_the_documents_replaced() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        data = b'{"name": "x", "version": "1.0.0"}'
        ti = tarfile.TarInfo("app/node_modules/x\xe9/package.json")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    contents = await read(im.compress(buf.getvalue()))
    (pkg,) = contents.packages
    assert pkg.location == "app/node_modules/x\ufffd/package.json"
    subject = Subject("acme/x", "sha256:" + "0" * 64)
    assert b"x\\ufffd" in to_cyclonedx(subject, contents) or "x\ufffd".encode() in to_cyclonedx(
        subject, contents
    )
    assert to_spdx(subject, contents)
