"""The layer transcoder and the manifest rewrites, without a server: gzip in any shape
a client writes (one member, several, zero padding) becomes zstd whose content and
digests are right; what is not gzip is refused with the reason; Docker manifests
become OCI ones; foreign layers and zstd layers are left alone."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
from collections.abc import AsyncIterator

import pytest
import zstandard

from dockyard.convert import image
from dockyard.convert.recompress import PLAIN_PIECE, NotGzip, Transcoder, transcode

PLAIN = os.urandom(1 << 20) + b"compressible " * (400 << 10)


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _run(blob: bytes) -> tuple[Transcoder, bytes]:
    async def go() -> tuple[Transcoder, bytes]:
        t = Transcoder(3)
        return t, b"".join([c async for c in transcode(_chunks(blob), t)])

    return asyncio.run(go())


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("blob", "plain"),
    [
        (gzip.compress(PLAIN), PLAIN),
        (gzip.compress(PLAIN[:70000]) + gzip.compress(PLAIN[70000:]), PLAIN),  # pigz-like
        (gzip.compress(PLAIN) + bytes(4096), PLAIN),  # zero padding after the stream
        (gzip.compress(b"x" * (3 * PLAIN_PIECE)), b"x" * (3 * PLAIN_PIECE)),  # full pieces
    ],
    ids=["one-member", "members", "padding", "exact-pieces"],
)
def test_transcodes(blob: bytes, plain: bytes) -> None:
    t, out = _run(blob)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(out) == plain
    assert t.diff_id == _sha(plain) and t.digest == _sha(out)
    assert (t.read, t.size, t.plain_size) == (len(blob), len(out), len(plain))


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"plain text, no gzip header", "not valid gzip"),
        (gzip.compress(PLAIN)[:100000], "truncated"),
        (gzip.compress(b"x", mtime=0) + b"trailing junk", "not valid gzip"),
        (b"", "empty"),
    ],
    ids=["no-header", "truncated", "trailing-junk", "empty"],
)
def test_refuses(blob: bytes, reason: str) -> None:
    with pytest.raises(NotGzip, match=reason):
        _run(blob)


def test_docker_manifest_becomes_oci_and_foreign_layers_stay() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 10,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "digest": "sha256:" + "f" * 64,
                "size": 5,
                "urls": ["https://example.com/layer"],
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": "sha256:" + "a" * 64,
                "size": 7,
                "annotations": {"containerd.io/snapshot/stargz/toc.digest": "x", "keep": "y"},
            },
            {"mediaType": image.ZSTD_LAYER, "digest": "sha256:" + "b" * 64, "size": 9},
        ],
    }
    assert image.to_convert(doc) == [1]
    new = image.zstd_layer(doc["layers"][1], "sha256:" + "d" * 64, 3)  # type: ignore[index]
    assert new["annotations"] == {"keep": "y"}
    content, media_type = image.rewrite(doc, str(doc["mediaType"]), {1: new})
    out = json.loads(content)
    assert media_type == out["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert out["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert out["config"]["digest"] == doc["config"]["digest"]  # type: ignore[index]
    assert [x["mediaType"] for x in out["layers"]] == [
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        image.ZSTD_LAYER,
        image.ZSTD_LAYER,
    ]
    assert out["layers"][0]["urls"] == ["https://example.com/layer"]
    assert out["layers"][2]["digest"] == "sha256:" + "b" * 64


def test_index_entries() -> None:
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "a" * 64,
        "size": 1,
        "platform": {"os": "linux", "architecture": "arm64"},
    }
    attestation = {**entry, "platform": {"os": "unknown", "architecture": "unknown"}}
    variant = image.zstd_descriptor(entry, str(entry["mediaType"]), "sha256:" + "b" * 64, 2)
    assert variant["annotations"] == {image.ZSTD_ANNOTATION: "true"}
    assert variant["platform"] == entry["platform"]
    assert image.convertible_child(entry)
    assert not image.convertible_child(attestation)
    assert not image.convertible_child(variant)
