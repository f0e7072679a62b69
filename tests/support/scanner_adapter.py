"""A Harbor Pluggable Scanner Adapter (API v1.1 / v1.2) on loopback, for tests.

It keeps the adapter's side of the contract as the spec and Trivy's adapter do:
GET /api/v1/metadata; POST /api/v1/scan validates the ScanRequest (400 for a body that
is not JSON or has a value of the wrong JSON type, 422 for a missing or invalid field,
415 for a Content-Type that is not a scan request) and answers 202 {"id"}; the scan
really pulls (at submission, before the 202) the artifact's manifest from `registry.url`
with `registry.authorization` (exchanging Basic credentials for a Bearer token where the
registry asks, as docker does); GET /api/v1/scan/{id}/report answers 302 + Refresh-After
for the first `pending_polls` polls, then 200 with the report whose vulnerabilities the
test put in `findings[digest]` (or 500 when the pull failed). A stub registry (/v2/) is
served by the same server for tests that need no real Dockyard. Every request is
recorded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import ssl
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUESTS = (
    "application/vnd.scanner.adapter.scan.request+json; version=1.0",
    "application/vnd.scanner.adapter.scan.request+json; version=1.1",
)
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
REPORT_V11 = "application/vnd.security.vulnerability.report; version=1.1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_REPORT = re.compile(r"^/api/v1/scan/(?P<id>[^/]+)/report$")
_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_SEVERITIES = ("Unknown", "Negligible", "Low", "Medium", "High", "Critical")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scan:
    id: str
    request: dict[str, Any]
    polls: int = 0
    pull_status: int | None = None
    pull_error: str = ""
    manifest: bytes = b""
    exchanged: bool = False
    """whether the registry challenged for a Bearer token the Basic credentials got"""


@dataclass
class AdapterBehaviour:
    """What the adapter does; tests change it before (or between) requests."""

    api_version: str = "1.2"
    """"1.2": capabilities carry a type; "1.1": they do not"""
    produces: tuple[str, ...] = (REPORT_V11,)
    consumes: tuple[str, ...] = (OCI_MANIFEST, DOCKER_MANIFEST)
    authorization: str | None = None
    """the Authorization header the adapter requires (None: any)"""
    pending_polls: int = 2
    refresh_after: str | None = "1"
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """digest → VulnerabilityItem objects for its report"""
    fail: str | None = None
    """metadata_500, metadata_bad_json, scan_500, scan_no_id, report_500, report_500_echo
    (its message repeats the registry credential), report_404, report_bad_json,
    report_oversized(_chunked), report_gzip_bomb, report_never_finishes, report_wrong_digest"""
    oversized_bytes: int = 2 << 20
    metadata_body: bytes | None = None
    """sent as the 200 metadata answer instead of the real one"""
    report_body: bytes | None = None
    """sent as the 200 report answer instead of the real one"""
    scan_id: str | None = None
    """the id the next accepted scan gets (default: a fresh UUID)"""
    scan_error_body: bytes | None = None
    """when set, POST /scan answers 500 with this body (any shape)"""


@dataclass
class StubRegistry:
    """A /v2/ manifest endpoint requiring exactly `authorization`."""

    authorization: str | None = None
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)

    def add(self, repository: str, manifest: bytes, media_type: str = OCI_MANIFEST) -> str:
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self.manifests[(repository, digest)] = (media_type, manifest)
        return digest


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up early
            super().handle_error(request, client_address)


class ScannerAdapterServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = AdapterBehaviour()
        self.registry = StubRegistry()
        self.requests: list[Recorded] = []
        self.scans: dict[str, Scan] = {}
        self._lock = threading.Lock()
        self._puller = httpx.Client(timeout=30.0, trust_env=False)  # one SSL context, built once
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        # a short poll interval: shutdown() waits for the serving loop to look up
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self._puller.close()

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def seen(self, method: str, prefix: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # adapter -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        capability: dict[str, Any] = {
            "consumes_mime_types": list(self.behaviour.consumes),
            "produces_mime_types": list(self.behaviour.produces),
        }
        if self.behaviour.api_version == "1.2":
            capability = {"type": "vulnerability", **capability}
        return {
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.1"},
            "capabilities": [capability],
            "properties": {
                "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
                "harbor.scanner-adapter/vulnerability-database-updated-at": (
                    "2026-11-30T06:00:00Z"
                ),
            },
        }

    def accept_scan(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        if content_type not in SCAN_REQUESTS:
            return 415, _error(f"unsupported content type {content_type!r}")
        try:
            request = json.loads(body)
        except ValueError as exc:
            return 400, _error(f"unmarshalling scan request: {exc}")
        problem = validate_scan_request(request)
        if problem is not None:
            return problem
        scan = Scan(self.behaviour.scan_id or str(uuid.uuid4()), request)
        self._pull(scan)
        with self._lock:
            self.scans[scan.id] = scan
        return 202, {"id": scan.id}

    def _pull(self, scan: Scan) -> None:
        registry, artifact = scan.request["registry"], scan.request["artifact"]
        base = registry["url"].rstrip("/")
        url = f"{base}/v2/{artifact['repository']}/manifests/{artifact['digest']}"
        headers = {"Accept": MANIFEST_ACCEPT}
        auth = registry.get("authorization")
        if auth:
            headers["Authorization"] = auth
        client = self._puller
        try:
            r = client.get(url, headers=headers)
            if r.status_code == 401 and auth and auth.lower().startswith("basic "):
                token = _exchange(client, r, auth, artifact["repository"])
                if token is not None:
                    scan.exchanged = True
                    headers["Authorization"] = f"Bearer {token}"
                    r = client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            scan.pull_error = f"pulling {url}: {exc}"
            return
        scan.pull_status = r.status_code
        if r.status_code != 200:
            scan.pull_error = f"pulling {url}: HTTP {r.status_code}"
        elif "sha256:" + hashlib.sha256(r.content).hexdigest() != artifact["digest"]:
            scan.pull_error = f"pulling {url}: manifest does not match its digest"
        else:
            scan.manifest = r.content

    def report(self, scan_id: str, accept: str) -> tuple[int, dict[str, str], bytes]:
        b = self.behaviour
        with self._lock:
            scan = self.scans.get(scan_id)
            if scan is not None:
                scan.polls += 1
        if scan is None or b.fail == "report_404":
            return _json(404, _error(f"cannot find scan job: {scan_id}"))
        if accept not in b.produces:
            return _json(501, _error(f"unsupported media type {accept}"))
        if b.fail == "report_never_finishes" or scan.polls <= b.pending_polls:
            headers = {"Location": f"/api/v1/scan/{scan_id}/report"}
            if b.refresh_after is not None:
                headers["Refresh-After"] = b.refresh_after
            return 302, headers, b""
        if b.fail == "report_500_echo":
            auth = scan.request["registry"].get("authorization")
            return _json(500, _error(f"registry refused Authorization: {auth}"))
        if b.fail == "report_500":
            return _json(500, _error("scanning failed: database is locked"))
        if scan.pull_error:
            return _json(500, _error(scan.pull_error))
        if b.fail == "report_bad_json":
            return 200, {"Content-Type": accept}, b'{"vulnerabilities": [{"id": '
        if b.report_body is not None:
            return 200, {"Content-Type": accept}, b.report_body
        if b.fail == "report_gzip_bomb":  # a few KiB on the wire, oversized_bytes unpacked
            packed = gzip.compress(b" " * b.oversized_bytes + b"{}")
            return 200, {"Content-Type": accept, "Content-Encoding": "gzip"}, packed
        if b.fail in ("report_oversized", "report_oversized_chunked"):
            headers = {"Content-Type": accept}
            if b.fail == "report_oversized_chunked":
                headers["Transfer-Encoding"] = "chunked"
            return 200, headers, b" " * b.oversized_bytes + b"{}"
        artifact = dict(scan.request["artifact"])
        if b.fail == "report_wrong_digest":
            artifact["digest"] = "sha256:" + "0" * 64
        vulns = b.findings.get(scan.request["artifact"]["digest"], [])
        ranks = [
            _SEVERITIES.index(v["severity"]) for v in vulns if v.get("severity") in _SEVERITIES
        ]
        body = {
            "generated_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC).isoformat(),
            "artifact": artifact,
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.1"},
            "severity": _SEVERITIES[max(ranks, default=0)],
            "vulnerabilities": vulns,
        }
        return 200, {"Content-Type": accept}, json.dumps(body).encode()

    # the stub registry -------------------------------------------------------

    def manifest(self, repo: str, ref: str, auth: str | None) -> tuple[int, dict[str, str], bytes]:
        if self.registry.authorization is not None and auth != self.registry.authorization:
            return 401, {"WWW-Authenticate": 'Basic realm="stub"'}, b""
        found = self.registry.manifests.get((repo, ref))
        if found is None:
            return 404, {"Content-Type": "application/json"}, b'{"errors": []}'
        media_type, body = found
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": ref}, body


def validate_scan_request(request: Any) -> tuple[int, dict[str, Any]] | None:
    """The spec's ScanRequest: 400 for wrong JSON types, 422 for missing/invalid fields."""
    if not isinstance(request, dict):
        return 400, _error("scan request is not an object")
    registry, artifact = request.get("registry"), request.get("artifact")
    for name, value in (("registry", registry), ("artifact", artifact)):
        if value is None:
            return 422, _error(f"missing {name}")
        if not isinstance(value, dict):
            return 400, _error(f"{name} is not an object")
    assert isinstance(registry, dict) and isinstance(artifact, dict)
    strings = [("registry", registry, k) for k in ("url", "authorization")]
    strings += [("artifact", artifact, k) for k in ("repository", "digest", "tag", "mime_type")]
    for name, obj, key in strings:
        if key in obj and not isinstance(obj[key], str):
            return 400, _error(f"{name}.{key} is not a string")
    url = registry.get("url")
    if not url:
        return 422, _error("missing registry.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return 422, _error("invalid registry.url")
    if not artifact.get("repository"):
        return 422, _error("missing artifact.repository")
    if not artifact.get("digest"):
        return 422, _error("missing artifact.digest")
    if not _DIGEST.match(artifact["digest"]):
        return 422, _error("invalid artifact.digest")
    caps = request.get("enabled_capabilities")
    if caps is not None:
        if not isinstance(caps, list) or not all(isinstance(c, dict) for c in caps):
            return 400, _error("enabled_capabilities is not a list of objects")
        for c in caps:
            if c.get("type") not in ("vulnerability", "sbom"):
                return 422, _error("invalid scan type")
            produces = c.get("produces_mime_types", [])
            if not isinstance(produces, list) or not all(isinstance(m, str) for m in produces):
                return 400, _error("produces_mime_types is not a list of strings")
    return None


def _exchange(client: httpx.Client, r: httpx.Response, basic: str, repo: str) -> str | None:
    """Docker token auth: fetch a pull token from the challenge's realm with `basic`."""
    challenge = r.headers.get("WWW-Authenticate", "")
    if not challenge.lower().startswith("bearer "):
        return None
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", None)
    if realm is None:
        return None
    params["scope"] = f"repository:{repo}:pull"
    got = client.get(realm, params=params, headers={"Authorization": basic})
    if got.status_code != 200:
        return None
    body = got.json()
    return str(body.get("token") or body.get("access_token") or "") or None


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": ERROR}, json.dumps(body).encode()


def _handler(server: ScannerAdapterServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed ACK
        wbufsize = 1 << 16  # flushed by handle_one_request after each request

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if headers.get("Transfer-Encoding") != "chunked":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.end_headers()  # no length announced: the client must count for itself
            for start in range(0, len(body), 64 << 10):
                chunk = body[start : start + (64 << 10)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.record(Recorded(method, path, headers, body))
            self._answer(*self._route(method, path, headers, body))

        def _route(
            self, method: str, path: str, headers: dict[str, str], body: bytes
        ) -> tuple[int, dict[str, str], bytes]:
            auth = headers.get("authorization")
            m = _MANIFEST.match(path)
            if m and method == "GET":
                return server.manifest(unquote(m["repo"]), unquote(m["ref"]), auth)
            b = server.behaviour
            if b.authorization is not None and auth != b.authorization:
                return _json(401, _error("unauthorized"))
            if path == "/api/v1/metadata" and method == "GET":
                if b.fail == "metadata_500":
                    return _json(500, _error("trivy database is not ready"))
                if b.fail == "metadata_bad_json":
                    return 200, {"Content-Type": METADATA}, b"<html>not json</html>"
                body = b.metadata_body or json.dumps(server.metadata()).encode()
                return 200, {"Content-Type": METADATA}, body
            if path == "/api/v1/scan" and method == "POST":
                if b.scan_error_body is not None:
                    return 500, {"Content-Type": "text/plain"}, b.scan_error_body
                if b.fail == "scan_500":
                    return _json(500, _error("enqueuing scan job: redis is down"))
                status, answer = server.accept_scan(body, headers.get("content-type", ""))
                if status == 202 and b.fail == "scan_no_id":
                    answer = {}
                ctype = SCAN_RESPONSE if status == 202 else ERROR
                return status, {"Content-Type": ctype}, json.dumps(answer).encode()
            m = _REPORT.match(path)
            if m and method == "GET":
                return server.report(unquote(m["id"]), headers.get("accept", ""))
            return _json(404, _error(f"no route {method} {path}"))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@contextmanager
def scanner_adapter(tls: ssl.SSLContext | None = None) -> Iterator[ScannerAdapterServer]:
    """The adapter on a free loopback port (over TLS with `tls`, a server context)."""
    server = ScannerAdapterServer(tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
