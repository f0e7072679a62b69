"""zstd and zstd:chunked layers from real clients: skopeo pushes them
(`--dest-compress-format`), the registry stores and serves them as they came, skopeo
pulls them back (every blob re-hashed, every layer uncompressed to its diff_id) and
podman pulls them into its own storage; the SBOM reader reads a zstd image's packages."""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.convert.conftest import (
    ZSTD_LAYER,
    check_zstd_layers,
    image_layout,
    manifest,
    sbom_purls,
    tar_files,
    zstd_debian_image,
    zstd_files,
)
from tests.e2e.test_podman import StorageTool, _probe
from tests.supplychain.helpers import push_artifact
from tests.supplychain.images_fixture import debian_image
from tests.supplychain.test_scanning import DEBIAN_PURLS
from tests.support.oci_layout import blob_path, build_image, read_blob, resolve_ref, verify_layout
from tests.support.server import RunningServer
from tests.support.tools import Skopeo

KiB = 1024
TEXT = b"".join(b"line %d of a config file that compresses well\n" % i for i in range(20000))


@pytest.fixture
def podman(cv_server: RunningServer, tmp_path: Path) -> Iterator[StorageTool]:
    runroot = Path(tempfile.mkdtemp(prefix="dy-run-", dir="/tmp"))  # podman: <= 50 chars
    try:
        yield _probe("podman", tmp_path, runroot).login(cv_server)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.mark.parametrize("compression", ["zstd", "zstd:chunked"])
def test_skopeo_pushes_zstd_and_pulls_it_back(
    skopeo: Skopeo, registry: httpx.Client, project: str, tmp_path: Path, compression: str
) -> None:
    img = build_image(tmp_path / "src", "v1", layers=[TEXT, 300 * KiB], seed=compression)
    repo = f"{project}/app"
    pushed = skopeo.push_oci(img.layout, "v1", repo, "v1", "--dest-compress-format", compression)
    found = manifest(registry, repo, "v1")
    assert found["_digest"] == pushed
    assert [x["mediaType"] for x in found["layers"]] == [ZSTD_LAYER, ZSTD_LAYER]
    assert found["config"]["digest"] == img.config_digest
    if compression == "zstd:chunked":  # the table of contents skopeo appends, described
        prefixes = ("io.github.containers.zstd-chunked.", "io.containers.zstd-chunked.")
        assert all(
            any(k.startswith(prefixes) for k in x["annotations"]) for x in found["layers"]
        ), found["layers"]
    for layer in found["layers"]:  # served exactly as stored
        blob = registry.get(f"/v2/{repo}/blobs/{layer['digest']}")
        assert blob.status_code == 200 and len(blob.content) == layer["size"]
        assert blob.content[:4] == b"\x28\xb5\x2f\xfd"

    out = tmp_path / "out"
    skopeo.pull_oci(repo, "v1", out, "v1")
    verify_layout(out)
    assert resolve_ref(out, "v1")["digest"] == pushed
    config = json.loads(read_blob(out, img.config_digest))
    assert config["rootfs"]["diff_ids"] == [x.diff_id for x in img.layers]
    if compression == "zstd":
        assert check_zstd_layers(out) == 2  # each uncompresses to its diff_id
        return
    # skopeo 1.9's zstd:chunked writer rewrites the tar (same files, a shorter end-of-archive
    # padding) yet keeps the config's diff_ids: the files are what they were
    for pulled, original in zip(found["layers"], img.layers, strict=True):
        theirs = gzip.decompress(read_blob(img.layout, original.digest))
        assert zstd_files(blob_path(out, pulled["digest"])) == tar_files(theirs)


def test_podman_pulls_a_zstd_image(
    podman: StorageTool, skopeo: Skopeo, project: str, tmp_path: Path
) -> None:
    img = build_image(tmp_path / "src", "v1", layers=[TEXT, 64 * KiB], seed="podman-zstd")
    repo = f"{project}/pod"
    pushed = skopeo.push_oci(img.layout, "v1", repo, "v1", "--dest-compress-format", "zstd")
    ref = f"{skopeo.hostport}/{repo}:v1"
    pulled = podman("pull", "-q", "--tls-verify=false", ref).stdout.split()[-1]
    assert pulled == img.image_id
    info = json.loads(podman("image", "inspect", ref).stdout)[0]
    assert info["Digest"] == pushed
    assert info["RootFS"]["Layers"] == [x.diff_id for x in img.layers]


def test_sbom_reads_a_zstd_image(api: httpx.Client, registry: httpx.Client, project: str) -> None:
    image = zstd_debian_image()
    repo = f"{project}/deb"
    push_artifact(registry, repo, "12", image.manifest, image.blobs)
    assert {x["mediaType"] for x in manifest(registry, repo, "12")["layers"]} == {ZSTD_LAYER}
    assert sbom_purls(api, repo, "12") == DEBIAN_PURLS


def test_sbom_reads_a_zstd_chunked_image_skopeo_pushed(
    api: httpx.Client, skopeo: Skopeo, registry: httpx.Client, project: str, tmp_path: Path
) -> None:
    layout = image_layout(tmp_path / "deb", "12", debian_image())
    repo = f"{project}/deb-chunked"
    skopeo.push_oci(layout, "12", repo, "12", "--dest-compress-format", "zstd:chunked")
    assert {x["mediaType"] for x in manifest(registry, repo, "12")["layers"]} == {ZSTD_LAYER}
    assert sbom_purls(api, repo, "12") == DEBIAN_PURLS
