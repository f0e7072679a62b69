"""A lean OCI distribution client for benchmarking.

The client must cost as little CPU as possible (it shares 2 cores with the server):
request bodies go out with socket.sendfile() straight from the page cache (no copies
through Python); big response bodies are discarded in the kernel (Drainer).
Only loopback is ever contacted: a Location pointing elsewhere is an error.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
TIMEOUT = 300.0


class RegistryError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class Client:
    """One keep-alive HTTP/1.1 connection to one registry on loopback."""

    def __init__(
        self, base_url: str, timeout: float = TIMEOUT, headers: dict[str, str] | None = None
    ) -> None:
        """`headers` go on every request (Authorization, say); a request's own win."""
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing non-loopback target {base_url}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reconnect(self) -> None:
        """Fresh connection now: an idle kept-alive one may be closed by the server
        at any moment (Dockyard's granian closes them after 2 s idle)."""
        self.close()
        self._connection()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, url_or_path: str) -> str:
        """Resolve a (possibly relative) URL against the base; return path?query."""
        full = urljoin(self.base_url + "/", url_or_path)
        parts = urlsplit(full)
        if (parts.hostname, parts.port or 80) != (self.host, self.port):
            raise RegistryError(f"server sent us off-host: {url_or_path!r}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn.connect()
        return self._conn

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        file: tuple[int, int, int] | None = None,  # (fd, offset, count) sent with sendfile
    ) -> Response:
        reused = self._conn is not None
        conn = self._connection()
        hdrs = {**self.headers, **(headers or {})}
        length = file[2] if file is not None else len(body or b"")
        if method in ("PUT", "POST", "PATCH") or length:
            hdrs.setdefault("Content-Length", str(length))
        try:
            conn.putrequest(method, self._path(url), skip_accept_encoding=True)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            if body:
                conn.send(body)
            if file is not None:
                fd, offset, count = file
                assert conn.sock is not None
                sent = 0
                with os.fdopen(os.dup(fd), "rb") as f:
                    while sent < count:
                        n = conn.sock.sendfile(f, offset + sent, count - sent)
                        if n == 0:
                            raise RegistryError("sendfile sent 0 bytes (server closed?)")
                        sent += n
            resp = conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
            return Response(resp.status, resp.headers, data)
        except (http.client.HTTPException, OSError) as exc:
            self.close()  # never reuse a connection in an unknown state
            how = "reused" if reused else "new"
            raise RegistryError(
                f"{method} {self._path(url)[:80]} on {how} connection: {exc!r}"
            ) from exc
        except BaseException:
            self.close()
            raise


@dataclass
class Drained:
    status: int
    headers: dict[str, str]  # lower-cased names
    nbytes: int
    body: bytes  # kept only for small bodies (<= 1 MiB)


class Drainer:
    """Keep-alive GET client whose bodies never reach user space.

    With a Content-Length body the bytes are discarded in the kernel with
    recv(MSG_TRUNC), which saves the client the copy out of the socket: on a 2-core
    box the client's CPU is taken from the server under test, so it must be small.
    Chunked and close-delimited bodies are supported too (with ordinary reads).
    """

    KEEP = 1024 * 1024

    def __init__(
        self, host: str, port: int, timeout: float = TIMEOUT, headers: dict[str, str] | None = None
    ) -> None:
        """`headers` go on every request (Authorization, say); a request's own win."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing non-loopback target {host}")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._sock: socket.socket | None = None
        self._pending = b""
        self._scratch = memoryview(bytearray(4 * 1024 * 1024))  # never written to

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._pending = b""

    def reconnect(self) -> None:
        self.close()
        self.connect()

    def __enter__(self) -> Drainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, sock: socket.socket) -> bytes:
        data = sock.recv(256 * 1024)
        if not data:
            raise RegistryError("connection closed by server mid-response")
        return data

    def _take(self, sock: socket.socket, n: int, keep: bool) -> bytes:
        """Consume exactly n body bytes; return them only if keep."""
        parts: list[bytes] = []
        first = self._pending[:n]
        self._pending = self._pending[len(first) :]
        left = n - len(first)
        if keep:
            parts.append(first)
        while left:
            if keep:
                data = self._recv(sock)[:left]  # no pipelining: nothing follows the body
                parts.append(data)
                left -= len(data)
            else:
                got = sock.recv_into(self._scratch, min(left, len(self._scratch)), socket.MSG_TRUNC)
                if not got:
                    raise RegistryError("connection closed by server mid-body")
                left -= got
        return b"".join(parts)

    def _line(self, sock: socket.socket) -> bytes:
        while b"\r\n" not in self._pending:
            self._pending += self._recv(sock)
        line, _, self._pending = self._pending.partition(b"\r\n")
        return line

    def connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._sock

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Drained:
        sock = self.connect()
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{k}: {v}" for k, v in {**self.headers, **(headers or {})}.items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            while b"\r\n\r\n" not in self._pending:
                if len(self._pending) > 65536:
                    raise RegistryError("response head larger than 64 KiB")
                self._pending += self._recv(sock)
            head, _, self._pending = self._pending.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            hdrs: dict[str, str] = {}
            for hl in header_lines:
                k, _, v = hl.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            body = b""
            nbytes = 0
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                pass
            elif "chunked" in hdrs.get("transfer-encoding", "").lower():
                parts = []
                while True:
                    size = int(self._line(sock).split(b";")[0], 16)
                    if size == 0:
                        while self._line(sock):  # trailers, then the empty line
                            pass
                        break
                    chunk = self._take(sock, size, keep=nbytes + size <= self.KEEP)
                    parts.append(chunk)
                    nbytes += size
                    self._take(sock, 2, keep=False)  # CRLF after each chunk
                body = b"".join(parts) if nbytes <= self.KEEP else b""
            elif "content-length" in hdrs:
                nbytes = int(hdrs["content-length"])
                body = self._take(sock, nbytes, keep=nbytes <= self.KEEP)
            else:  # delimited by close
                while True:
                    data = sock.recv(256 * 1024)
                    if not data:
                        break
                    nbytes += len(data)
                nbytes += len(self._pending)
                self._pending = b""
                hdrs["connection"] = "close"
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return Drained(status, hdrs, nbytes, body)
        except BaseException:
            self.close()
            raise


def expect(resp: Response, *codes: int, what: str) -> Response:
    if resp.status not in codes:
        snippet = resp.body[:300].decode(errors="replace")
        raise RegistryError(f"{what}: HTTP {resp.status} (wanted {codes}) {snippet}")
    return resp


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={digest}"


def start_upload(c: Client, repo: str) -> str:
    resp = expect(c.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, what="POST upload")
    loc = resp.headers.get("Location")
    if not loc:
        raise RegistryError("POST upload: no Location header")
    return loc


def push_monolithic(c: Client, repo: str, fd: int, size: int, digest: str) -> None:
    """POST then one PUT ?digest= carrying the whole blob."""
    loc = start_upload(c, repo)
    resp = c.request(
        "PUT",
        with_digest(loc, digest),
        headers={"Content-Type": "application/octet-stream"},
        file=(fd, 0, size),
    )
    expect(resp, 201, what="PUT blob")
    check_digest_header(resp, digest, "PUT blob")


def push_chunked(c: Client, repo: str, fd: int, size: int, digest: str, chunk: int) -> int:
    """POST, PATCH chunk by chunk (following Location each time), then PUT ?digest=."""
    loc = start_upload(c, repo)
    offset = 0
    patches = 0
    while offset < size:
        n = min(chunk, size - offset)
        resp = c.request(
            "PATCH",
            loc,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + n - 1}",
            },
            file=(fd, offset, n),
        )
        expect(resp, 202, what=f"PATCH {offset}-{offset + n - 1}")
        new_loc = resp.headers.get("Location")
        if not new_loc:
            raise RegistryError("PATCH: no Location header")
        loc = new_loc
        offset += n
        patches += 1
    resp = c.request("PUT", with_digest(loc, digest))
    expect(resp, 201, what="final PUT")
    check_digest_header(resp, digest, "final PUT")
    return patches


def check_digest_header(resp: Response, digest: str, what: str) -> None:
    got = resp.headers.get("Docker-Content-Digest")
    if got is not None and got != digest:
        raise RegistryError(f"{what}: Docker-Content-Digest {got} != {digest}")


def pull_blob(d: Drainer, repo: str, digest: str, size: int) -> int:
    resp = d.request("GET", f"/v2/{repo}/blobs/{digest}")
    if resp.status != 200:
        raise RegistryError(f"GET blob: HTTP {resp.status}")
    if resp.nbytes != size:
        raise RegistryError(f"GET blob: got {resp.nbytes} bytes, expected {size}")
    got = resp.headers.get("docker-content-digest")
    if got is not None and got != digest:
        raise RegistryError(f"GET blob: Docker-Content-Digest {got} != {digest}")
    return resp.nbytes


def push_bytes(c: Client, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = start_upload(c, repo)
    resp = c.request(
        "PUT",
        with_digest(loc, digest),
        headers={"Content-Type": "application/octet-stream"},
        body=data,
    )
    expect(resp, 201, what="PUT small blob")
    return digest


def push_manifest(c: Client, repo: str, tag: str, manifest: bytes) -> str:
    resp = c.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        headers={"Content-Type": OCI_MANIFEST},
        body=manifest,
    )
    expect(resp, 201, what="PUT manifest")
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def get_manifest(c: Client, repo: str, ref: str, method: str = "GET") -> Response:
    return c.request(method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})


def descriptor(media_type: str, digest: str, size: int) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def build_image(
    c: Client, repo: str, tag: str, layers: list[tuple[int, int, int, str]]
) -> tuple[bytes, str]:
    """Push layers (fd, offset, size, digest), a config and an OCI manifest; return it."""
    layer_descs = []
    for fd, offset, size, digest in layers:
        loc = start_upload(c, repo)
        resp = c.request(
            "PUT",
            with_digest(loc, digest),
            headers={"Content-Type": "application/octet-stream"},
            file=(fd, offset, size),
        )
        expect(resp, 201, what="PUT layer")
        layer_descs.append(descriptor(OCI_LAYER, digest, size))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descs]},
        },
        sort_keys=True,
    ).encode()
    config_digest = push_bytes(c, repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config_digest, len(config)),
            "layers": layer_descs,
        },
        indent=2,
    ).encode()
    digest = push_manifest(c, repo, tag, manifest)
    return manifest, digest


def timed(fn: object) -> float:
    """Seconds taken by fn()."""
    assert callable(fn)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def file_digest(path: Path, size: int, offset: int = 0) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = size
        while left:
            data = f.read(min(8 * 1024 * 1024, left))
            if not data:
                raise RegistryError(f"{path} shorter than expected")
            h.update(data)
            left -= len(data)
    return "sha256:" + h.hexdigest()
