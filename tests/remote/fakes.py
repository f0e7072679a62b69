"""Misbehaving remotes on loopback (http.server in a thread): one that lies about
digests, sends an oversized manifest and breaks off a blob; one that rate-limits."""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
CLAIMED = "sha256:" + "ab" * 32
"""what the liar says its content is"""


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LyingHandler(_Quiet):
    def do_GET(self) -> None:
        path = self.path
        mt = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        if path.endswith(f"/manifests/{CLAIMED}"):
            self._send(200, MANIFEST, mt)
        elif path.endswith("/manifests/v1"):
            self._send(200, MANIFEST, {**mt, "Docker-Content-Digest": CLAIMED})
        elif path.endswith("/manifests/huge"):
            self._send(200, b" " * (5 * 1024 * 1024), mt)
        elif "/blobs/" in path:
            # says a million bytes, sends a thousand, hangs up
            self._send(200, b"x" * 1000, {"Content-Length": "1000000", "Connection": "close"})
            self.close_connection = True
        else:
            self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}', {})


class RateLimitHandler(_Quiet):
    def do_HEAD(self) -> None:
        digest = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
        self._send(
            200,
            b"",
            {
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": digest,
                "Content-Length": str(len(MANIFEST)),
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "7;w=21600",
            },
        )

    def do_GET(self) -> None:
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
        headers = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"}
        if self.path.endswith("/seconds"):
            headers["Retry-After"] = "42"
        else:
            headers["Retry-After"] = email.utils.formatdate(time.time() + 120, usegmt=True)
        self._send(429, body, headers)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """http://127.0.0.1:<port> served by `handler` until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Recorder(_Quiet):
    """Serves any GET with BLOB, and records the Authorization header it saw."""

    seen: list[str | None] = []  # noqa: RUF012 - reset per test by `redirecting`

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self._send(200, BLOB, {"Content-Type": "application/octet-stream"})


BLOB = b"presigned bytes " * 64


def redirector(target: str) -> type[BaseHTTPRequestHandler]:
    """A registry asking for Basic credentials that redirects blob GETs to `target`
    (a presigned storage URL on another host)."""

    class Redirect(_Quiet):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") is None:
                self._send(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})
            elif "/blobs/" in self.path:
                self._send(307, b"", {"Location": f"{target}/bucket/blob?X-Signature=abc"})
            else:
                self._send(200, b"{}", {})

    return Redirect
