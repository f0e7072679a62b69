"""Every upload flow of the distribution spec, and their error paths."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import httpx

from tests.spec.helpers import error_codes, push_blob, sha256, unique_repo


def _start(client: httpx.Client, repo: str) -> str:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-0"
    assert r.headers["Content-Length"] == "0"
    assert r.headers["Docker-Upload-UUID"]
    loc = r.headers["Location"]
    assert loc.startswith(f"/v2/{repo}/blobs/uploads/")
    return loc


def _storage_uploads(server) -> list[str]:  # type: ignore[no-untyped-def]
    return server.storage_names("uploads")


def test_monolithic_post(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(5000)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert client.get(r.headers["Location"]).content == data


def test_post_then_single_put(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(70_000)
    loc = _start(client, repo)
    r = client.put(
        loc,
        params={"digest": sha256(data)},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data
    # the session is gone once completed
    assert client.get(loc).status_code == 404


def test_chunked_upload_with_status(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(3 * 65536 + 17)
    loc = _start(client, repo)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    offset = 0
    for chunk in chunks:
        r = client.patch(
            loc,
            content=chunk,
            headers={
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        loc = r.headers["Location"]
        status = client.get(loc)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{offset - 1}"
        assert status.headers["Location"] == loc
    r = client.put(loc, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_streamed_patch_without_content_range(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(300_000)

    def gen():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), 7000):
            yield data[i : i + 7000]

    loc = _start(client, repo)
    r = client.patch(loc, content=gen())  # chunked transfer encoding, no length
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = client.put(r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_final_put_with_last_chunk(client: httpx.Client) -> None:
    repo = unique_repo()
    data = os.urandom(20_000)
    loc = _start(client, repo)
    r = client.patch(loc, content=data[:12_000], headers={"Content-Range": "0-11999"})
    assert r.status_code == 202
    r = client.put(
        r.headers["Location"],
        params={"digest": sha256(data)},
        content=data[12_000:],
        headers={"Content-Range": "12000-19999"},
    )
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_out_of_order_chunk_is_416(client: httpx.Client) -> None:
    repo = unique_repo()
    loc = _start(client, repo)
    r = client.patch(loc, content=b"a" * 100, headers={"Content-Range": "0-99"})
    assert r.status_code == 202
    loc = r.headers["Location"]
    r = client.patch(loc, content=b"b" * 100, headers={"Content-Range": "200-299"})
    assert r.status_code == 416
    assert r.headers["Range"] == "0-99"
    assert r.headers["Location"] == loc
    # a chunk restarting at 0 is out of order too
    r = client.patch(loc, content=b"b" * 100, headers={"Content-Range": "0-99"})
    assert r.status_code == 416
    # malformed Content-Range
    r = client.patch(loc, content=b"b" * 100, headers={"Content-Range": "banana"})
    assert r.status_code == 416
    # the right chunk still goes through, and the 416s changed nothing
    r = client.patch(loc, content=b"c" * 100, headers={"Content-Range": "100-199"})
    assert r.status_code == 202
    data = b"a" * 100 + b"c" * 100
    r = client.put(r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201


def test_content_range_length_mismatch(client: httpx.Client) -> None:
    repo = unique_repo()
    loc = _start(client, repo)
    r = client.patch(loc, content=b"x" * 10, headers={"Content-Range": "0-19"})
    assert r.status_code == 416
    assert client.get(loc).headers["Range"] == "0-0"


def test_digest_mismatch_stores_nothing(client: httpx.Client, server) -> None:  # type: ignore[no-untyped-def]
    repo = unique_repo()
    data = os.urandom(1000)
    wrong = sha256(b"something else")
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, content=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404

    loc = _start(client, repo)
    client.patch(loc, content=data)
    r = client.put(loc, params={"digest": wrong})
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404
    assert client.get(loc).status_code == 404  # the failed session is gone
    upload_id = urlsplit(loc).path.rsplit("/", 1)[1]
    assert upload_id not in _storage_uploads(server)


def test_put_without_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    loc = _start(client, repo)
    r = client.put(loc, content=b"abc")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    r = client.put(loc, params={"digest": "sha256:nothex"})
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_cancel_upload(client: httpx.Client, server) -> None:  # type: ignore[no-untyped-def]
    repo = unique_repo()
    loc = _start(client, repo)
    client.patch(loc, content=b"z" * 500)
    r = client.delete(loc)
    assert r.status_code == 204
    r = client.get(loc)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    assert client.delete(loc).status_code == 404
    upload_id = urlsplit(loc).path.rsplit("/", 1)[1]
    assert upload_id not in _storage_uploads(server)


def test_unknown_upload(client: httpx.Client) -> None:
    repo = unique_repo()
    for upload_id in ("0" * 32, "not-a-real-id", "%2e%2e"):
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            r = client.request(
                method,
                f"/v2/{repo}/blobs/uploads/{upload_id}",
                params={"digest": sha256(b"")} if method == "PUT" else None,
            )
            assert r.status_code == 404, (method, upload_id, r.text)
            assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_upload_belongs_to_its_repository(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    loc = _start(client, a)
    upload_id = loc.rsplit("/", 1)[1]
    r = client.patch(f"/v2/{b}/blobs/uploads/{upload_id}", content=b"x")
    assert r.status_code == 404


def test_empty_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    loc = _start(client, repo)
    r = client.put(loc, params={"digest": sha256(b"")})
    assert r.status_code == 201, r.text
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'')}")
    assert r.status_code == 200
    assert r.content == b""


def test_sha512_upload(client: httpx.Client) -> None:
    import hashlib

    repo = unique_repo()
    data = os.urandom(4000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    loc = _start(client, repo)
    r = client.patch(loc, content=data)
    r = client.put(r.headers["Location"], params={"digest": digest})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_cross_repository_mount(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    digest = push_blob(client, a, os.urandom(2048))
    r = client.post(f"/v2/{b}/blobs/uploads/", params={"mount": digest, "from": a})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/{b}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.head(f"/v2/{b}/blobs/{digest}").status_code == 200


def test_mount_without_from(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    digest = push_blob(client, a, os.urandom(2048))
    r = client.post(f"/v2/{b}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert client.head(f"/v2/{b}/blobs/{digest}").status_code == 200


def test_refused_mount_falls_back_to_upload(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    missing = sha256(b"not here")
    for params in (
        {"mount": missing, "from": a},
        {"mount": "garbage", "from": a},
        {"mount": missing},
    ):
        r = client.post(f"/v2/{b}/blobs/uploads/", params=params)
        assert r.status_code == 202, params
        assert "/blobs/uploads/" in r.headers["Location"]
    # a blob that exists, but not in the named source repository
    digest = push_blob(client, a, os.urandom(99))
    r = client.post(f"/v2/{b}/blobs/uploads/", params={"mount": digest, "from": unique_repo()})
    assert r.status_code == 202


def test_disconnect_mid_patch_leaves_offset(client: httpx.Client, server) -> None:  # type: ignore[no-untyped-def]
    repo = unique_repo()
    loc = _start(client, repo)
    r = client.patch(loc, content=b"a" * 1000)
    assert r.status_code == 202
    # announce 1 MiB, send 100 KiB, hang up
    with socket.create_connection((server.host, server.port)) as sock:
        head = (
            f"PATCH {loc} HTTP/1.1\r\nHost: {server.hostport}\r\n"
            f"Content-Length: {1 << 20}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        sock.sendall(head.encode() + b"b" * 100_000)
    # the server notices the disconnect and rolls back; the status is unchanged
    # whenever we look, and the upload can continue from 1000
    r = client.get(loc)
    assert r.headers["Range"] == "0-999"
    r = None
    for _ in range(200):  # the rolled-back request may still hold its lease briefly
        r = client.patch(loc, content=b"c" * 10, headers={"Content-Range": "1000-1009"})
        if r.status_code == 202:
            break
        assert r.status_code == 416 and r.headers["Range"] == "0-999"
    assert r is not None and r.status_code == 202
    data = b"a" * 1000 + b"c" * 10
    r = client.put(r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
