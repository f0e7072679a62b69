"""Hostile input: names, paths, methods, internal errors."""

from __future__ import annotations

import socket

import httpx

from tests.spec.helpers import error_codes, sha256


def _raw(server, request_line: str) -> bytes:  # type: ignore[no-untyped-def]
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_invalid_repository_names(client: httpx.Client) -> None:
    for name in (
        "UPPER/case",
        "a//b",
        "a/-b",
        "trailing-",
        "x" * 300,
        "a/b..c/../d",
        "sp ace",
        "a/.hidden",
    ):
        r = client.get(f"/v2/{name}/tags/list")
        assert r.status_code in (400, 404), name
        if r.status_code == 400:
            assert error_codes(r) == ["NAME_INVALID"], name


def test_path_traversal_cannot_escape(server, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    for line in (
        "GET /v2/../../etc/passwd/blobs/" + sha256(b"x") + " HTTP/1.1",
        "GET /v2/a/../../../etc/tags/list HTTP/1.1",
        "POST /v2/%2e%2e/%2e%2e/blobs/uploads/ HTTP/1.1",
        "GET /v2/a/blobs/uploads/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1",
    ):
        raw = _raw(server, line)
        status = int(raw.split(b" ", 2)[1])
        assert status in (400, 404), (line, raw[:200])
        assert b"root:" not in raw


def test_unknown_endpoint_and_method(client: httpx.Client) -> None:
    r = client.get("/v2/foo/bar/nonsense")
    assert r.status_code == 404
    assert error_codes(r) == ["UNSUPPORTED"]
    r = client.request("PATCH", f"/v2/foo/manifests/{sha256(b'')}")
    assert r.status_code == 405
    assert error_codes(r) == ["UNSUPPORTED"]
    assert client.get("/nothing-here").status_code == 404


def test_every_response_has_request_id(client: httpx.Client) -> None:
    r = client.get("/v2/", headers={"X-Request-ID": "trace-me"})
    assert r.headers["X-Request-ID"] == "trace-me"
    assert client.get("/v2/").headers["X-Request-ID"]
