"""A real `dockyard serve` (2 workers) over S3 storage, configured the twelve-factor
way (DOCKYARD_STORAGE_URL + AWS_* variables): blob GETs answered with a 307 to a
presigned URL that serves the right bytes, or streamed through the registry
when redirects are off; chunked uploads whose requests land on either worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.spec.helpers import push_blob, sha256, unique_repo
from tests.support.s3server import S3Server
from tests.support.server import RunningServer, run_server

MiB = 1 << 20


def _serve(s3: S3Server, base: Path, *, redirect: bool) -> Iterator[tuple[RunningServer, str]]:
    bucket = s3.create_bucket()
    env = {
        **s3.aws_env(),
        "DOCKYARD_STORAGE_URL": s3.storage_url(bucket, "registry", redirect=redirect),
    }
    try:
        with run_server(base / "data", env=env) as srv:
            yield srv, bucket
    finally:
        s3.delete_bucket(bucket)


@pytest.fixture(scope="module")
def redirecting(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, str]]:
    yield from _serve(s3_server, tmp_path_factory.mktemp("s3-redirect"), redirect=True)


@pytest.fixture(scope="module")
def streaming(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, str]]:
    yield from _serve(s3_server, tmp_path_factory.mktemp("s3-stream"), redirect=False)


def _chunked_push(http: httpx.Client, repo: str, data: bytes, chunk: int) -> str:
    digest = sha256(data)
    r = http.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        r = http.patch(
            location,
            content=piece,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(piece) - 1}",
            },
        )
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
    r = http.put(location, params={"digest": digest})
    assert r.status_code == 201, r.text
    return digest


def test_blob_get_redirects_to_a_presigned_url(
    redirecting: tuple[RunningServer, str], s3_server: S3Server
) -> None:
    srv, bucket = redirecting
    repo = unique_repo("s3")
    data = os.urandom(3 * MiB + 7)
    with srv.client(timeout=60) as http:
        digest = push_blob(http, repo, data)
        r = http.get(f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 307
        location = r.headers["Location"]
        assert location.startswith(s3_server.endpoint + f"/{bucket}/registry/blobs/sha256/")
        assert "X-Amz-Signature=" in location
        # a client follows the redirect to the object store and gets the blob
        followed = http.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
        assert followed.status_code == 200
        assert followed.content == data
        assert sha256(followed.content) == digest
        ranged = http.get(
            f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=5-14"}, follow_redirects=True
        )
        assert ranged.status_code == 206 and ranged.content == data[5:15]
        # HEAD is answered by the registry itself
        head = http.head(f"/v2/{repo}/blobs/{digest}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(data))


def test_chunked_upload_across_workers_then_redirect(
    redirecting: tuple[RunningServer, str], s3_server: S3Server
) -> None:
    srv, bucket = redirecting
    repo = unique_repo("s3")
    # chunks under and over the 5 MiB part minimum; each PATCH is a new
    # connection, so the requests spread over both workers
    data = os.urandom(13 * MiB + 3)
    with srv.client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        digest = _chunked_push(http, repo, data, 3 * MiB)
        followed = http.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
        assert followed.status_code == 200 and followed.content == data
    blob_key = f"registry/blobs/sha256/{digest[7:9]}/{digest[7:]}"
    assert blob_key in s3_server.keys(bucket, "registry/blobs/")
    assert s3_server.keys(bucket, "registry/uploads/") == []
    assert s3_server.multipart_uploads(bucket) == []


def test_blob_get_streams_through_the_registry_when_redirect_is_off(
    streaming: tuple[RunningServer, str],
) -> None:
    srv, _ = streaming
    repo = unique_repo("s3")
    data = os.urandom(5 * MiB + 1)
    with srv.client(timeout=60) as http:
        digest = push_blob(http, repo, data)
        r = http.get(f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["Docker-Content-Digest"] == digest
        ranged = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=100-"})
        assert ranged.status_code == 206 and ranged.content == data[100:]
        digest2 = _chunked_push(http, repo, data[::-1], 2 * MiB)
        assert http.get(f"/v2/{repo}/blobs/{digest2}").content == data[::-1]


def test_readiness_reports_the_bucket(streaming: tuple[RunningServer, str]) -> None:
    srv, _ = streaming
    assert httpx.get(f"{srv.url}/readyz", timeout=10).status_code == 200
