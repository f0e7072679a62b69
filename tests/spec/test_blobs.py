"""Base endpoint and blob reads/deletes."""

from __future__ import annotations

import os

import httpx

from tests.spec.helpers import error_codes, push_blob, sha256, unique_repo


def test_base_endpoint(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json() == {}
    assert client.get("/v2").status_code == 200


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert checks["database"] == "ok" and checks["storage"] == "ok"
    assert set(checks) <= {"database", "storage", "redis", "disk"}
    assert checks.get("redis", "ok") == "ok" and checks.get("disk", "ok") == "ok"


def test_blob_head_get(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(100_000)
    digest = push_blob(client, repo, data)
    r = client.head(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.content == b""
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))


def test_blob_range_requests(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(10_000)
    digest = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=9000-"})
    assert r.status_code == 206
    assert r.content == data[9000:]
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=20000-30000"})
    assert r.status_code == 416


def test_blob_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = sha256(b"never pushed")
    for method in ("GET", "HEAD"):
        r = client.request(method, f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 404
    assert error_codes(client.get(f"/v2/{repo}/blobs/{digest}")) == ["BLOB_UNKNOWN"]


def test_blob_is_scoped_to_repository(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    digest = push_blob(client, a, os.urandom(64))
    assert client.head(f"/v2/{a}/blobs/{digest}").status_code == 200
    assert client.head(f"/v2/{b}/blobs/{digest}").status_code == 404


def test_blob_invalid_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    for bad in ("sha256:xyz", "md5:abc", "sha256:" + "A" * 64, "nonsense"):
        r = client.get(f"/v2/{repo}/blobs/{bad}")
        assert r.status_code == 400, bad
        assert error_codes(r) == ["DIGEST_INVALID"]


def test_blob_delete(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, os.urandom(128))
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 202
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_same_blob_twice_is_stored_once(client: httpx.Client, server) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(4096)
    d1 = push_blob(client, unique_repo(), data)
    d2 = push_blob(client, unique_repo(), data)
    assert d1 == d2
    hexd = d1.split(":")[1]
    assert server.storage_names(f"blobs/sha256/{hexd[:2]}").count(hexd) == 1


def test_blob_range_forms(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(1000)
    digest = push_blob(client, repo, data)
    url = f"/v2/{repo}/blobs/{digest}"
    r = client.get(url, headers={"Range": "bytes=-10"})  # suffix
    assert r.status_code == 206 and r.content == data[-10:]
    assert r.headers["Content-Range"] == "bytes 990-999/1000"
    r = client.get(url, headers={"Range": "bytes=0-0"})
    assert r.status_code == 206 and r.content == data[:1]
    r = client.get(url, headers={"Range": "bytes=500-5000"})  # end clamped
    assert r.status_code == 206 and r.content == data[500:]
    r = client.get(url, headers={"Range": "bytes=0-1,5-6"})  # several: whole blob
    assert r.status_code == 200 and r.content == data
    r = client.get(url, headers={"Range": "bytes=1000-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */1000"
