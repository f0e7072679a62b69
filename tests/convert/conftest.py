"""A registry of the conversion tests' own (SQLite + folder, its worker polling the job
queue every 0.2 s), real clients bound to it, and what the tests share: waiting for a
job, reading a layout's zstd layers back to their diff_ids, building images whose
packages the SBOM reader knows. Names are unique per test, so tests share the server."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from tests.lifecycle.retention_support import API, ok, unique, wait_for
from tests.supplychain.images_fixture import debian_image
from tests.support import images
from tests.support.oci_layout import (
    add_ref,
    blob_path,
    init_layout,
    read_blob,
    read_index_json,
    write_blob,
)
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary

ENV = {"DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "100000", "DOCKYARD__JOBS__POLL_SECONDS": "0.2"}
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_ANNOTATION = "io.github.containers.compression.zstd"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

__all__ = ["API", "ok", "unique", "wait_for"]


@pytest.fixture(scope="module")
def cv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base: Path = tmp_path_factory.mktemp("convert")
    with run_server(base / "data", env=ENV) as srv:
        yield srv


@pytest.fixture
def api(cv_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cv_server.url + API, auth=cv_server.admin, timeout=60) as c:
        yield c


@pytest.fixture
def registry(cv_server: RunningServer) -> Iterator[httpx.Client]:
    with cv_server.client(cv_server.admin) as c:
        yield c


@pytest.fixture
def project(api: httpx.Client) -> str:
    name = unique("cv")
    ok(api.post("/projects", json={"name": name, "public": False}), 201)
    return name


@pytest.fixture
def skopeo(cv_server: RunningServer, tmp_path: Path) -> Skopeo:
    require_binary("skopeo")
    return Skopeo(cv_server.hostport, workdir=tmp_path, credentials=cv_server.admin)


def artifact(repository: str, reference: str) -> str:
    """The management API path of PROJECT/REPO@reference."""
    project, _, repo = repository.partition("/")
    return f"/projects/{project}/repositories/{repo}/-/artifacts/{reference}"


def wait_job(api: httpx.Client, job_id: int, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = ok(api.get(f"/jobs/{job_id}"))
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(f"job {job_id}", finished, timeout=timeout)


def convert(api: httpx.Client, repository: str, reference: str, **body: Any) -> dict[str, Any]:
    """Start a conversion and wait for its job; the finished job."""
    started = ok(api.post(artifact(repository, reference) + "/convert", json=body), 202)
    return wait_job(api, started["job_id"])


def manifest(registry: httpx.Client, repository: str, reference: str) -> dict[str, Any]:
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
    r = registry.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept})
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    found["_digest"] = r.headers["Docker-Content-Digest"]
    return found


def zstd_diff_id(path: Path) -> str:
    h = hashlib.sha256()
    with (
        path.open("rb") as f,
        zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as z,
    ):
        while chunk := z.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def tar_files(tar: bytes) -> list[tuple[str, int, bytes | None]]:
    """A tar's members: name, mode, content (None for what is not a regular file)."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return [(m.name, m.mode, _content(t, m)) for m in t]


def _content(t: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    f = t.extractfile(member) if member.isfile() else None
    return None if f is None else f.read()


def zstd_files(path: Path) -> list[tuple[str, int, bytes | None]]:
    with (
        path.open("rb") as f,
        zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as z,
    ):
        return tar_files(z.read())


def check_zstd_layers(layout: Path) -> int:
    """Every zstd layer of every image in `layout` uncompresses to its config's diff_id
    (verify_layout checks gzip ones); the number of zstd layers seen."""
    seen = 0

    def walk(desc: dict[str, Any]) -> None:
        nonlocal seen
        doc = json.loads(read_blob(layout, desc["digest"]))
        if "manifests" in doc:
            for child in doc["manifests"]:
                walk(child)
            return
        ids = json.loads(read_blob(layout, doc["config"]["digest"]))["rootfs"]["diff_ids"]
        for layer, diff_id in zip(doc["layers"], ids, strict=True):
            if layer["mediaType"] == ZSTD_LAYER:
                assert zstd_diff_id(blob_path(layout, layer["digest"])) == diff_id
                seen += 1

    for desc in read_index_json(layout)["manifests"]:
        walk(desc)
    return seen


def zstd_debian_image() -> images.Image:
    """The scanning tests' Debian image (dpkg status, Python, npm, Go, Java packages) with
    zstd layers."""
    layers = [
        zstandard.ZstdCompressor().compress(gzip.decompress(b)) for b in debian_image().layer_blobs
    ]
    return images.image(layers)


def image_layout(path: Path, tag: str, image: images.Image) -> Path:
    """An OCI layout holding `image` (from tests/support/images.py) as `tag`, for skopeo."""
    init_layout(path)
    for blob in (image.config, *image.layer_blobs, image.manifest):
        write_blob(path, blob)
    add_ref(
        path, tag, {"mediaType": MT_MANIFEST, "digest": image.digest, "size": len(image.manifest)}
    )
    return path


def sbom_purls(api: httpx.Client, repository: str, reference: str) -> set[str]:
    """Scan the artifact now (as its job) and return its SBOM's package URLs."""
    started = ok(api.post(artifact(repository, reference) + "/scan"), 202)
    job = wait_job(api, started["job_id"])
    assert job["state"] == "succeeded", job
    cdx = ok(api.get(artifact(repository, reference) + "/sbom"))
    return {c["purl"] for c in cdx["components"] if "purl" in c}


def dockyard(
    server: RunningServer, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """A `dockyard` admin command against the server's API, as the admin."""
    user, password = server.admin
    env = {**os.environ, "DOCKYARD_URL": server.url, "DOCKYARD_USERNAME": user}
    env["DOCKYARD_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
