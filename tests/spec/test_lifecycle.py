"""Crash safety and graceful shutdown, each on a server of its own."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.spec.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.server import RunningServer, run_server

# Leases far longer than any test: whatever resumes after a restart did so because
# the dead writer was recognised as dead, not because its lease ran out.
LONG_LEASE = {"DOCKYARD__REGISTRY__UPLOAD_LEASE_SECONDS": "600"}


def _slow_body(
    first: bytes, rest: bytes, started: threading.Event, release: threading.Event
) -> Iterator[bytes]:
    yield first
    started.set()
    release.wait(30)
    yield rest


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll an observable event (bytes on disk, a response counted), not a race cover-up."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling interval


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


class _InFlight:
    """A request whose body stops midway until released, in a thread of its own."""

    def __init__(self, srv: RunningServer, method: str, url: str, body: Iterator[bytes],
                 **kw: object) -> None:  # fmt: skip
        self.error: BaseException | None = None
        self.response: httpx.Response | None = None

        def send() -> None:
            try:
                with srv.client(timeout=30) as c:
                    self.response = c.request(method, url, content=body, **kw)  # type: ignore[arg-type]
            except httpx.HTTPError as exc:
                self.error = exc

        self.thread = threading.Thread(target=send)
        self.thread.start()


def _check_consistency(data_dir: Path) -> None:
    """What fsck would check: every blob row has its bytes, of the recorded size and
    digest; every manifest row's content has the recorded digest."""
    db = sqlite3.connect(data_dir / "dockyard.db")
    try:
        blobs = db.execute("SELECT digest, size FROM blobs").fetchall()
        manifests = db.execute("SELECT digest, content FROM manifests").fetchall()
        links = db.execute(
            "SELECT count(*) FROM repository_blobs rb LEFT JOIN blobs b ON b.digest = rb.digest"
            " WHERE b.digest IS NULL"
        ).fetchone()
    finally:
        db.close()
    assert blobs and manifests
    for digest, size in blobs:
        algorithm, encoded = digest.split(":")
        path = data_dir / "storage" / "blobs" / algorithm / encoded[:2] / encoded
        data = path.read_bytes()  # FileNotFoundError: a row pointing at nothing
        assert len(data) == size and sha256(data) == digest, digest
    for digest, content in manifests:
        assert sha256(content) == digest
    assert links == (0,)


def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """SIGKILL while a PATCH, a monolithic blob POST, a finishing PUT and manifest
    PUTs are streaming; after the restart everything acknowledged is there, nothing
    torn is, the interrupted sessions resume at once, and rows match bytes."""
    data_dir = tmp_path / "data"
    uploads_dir = data_dir / "storage" / "uploads"
    repo = "crash/app"
    release = threading.Event()
    with run_server(data_dir, env=LONG_LEASE) as srv, srv.client() as c:
        image_digest, image_manifest = push_image(c, repo, "v1")
        layer = os.urandom(4096)
        layer_digest = push_blob(c, repo, layer)
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        push_blob(c, repo, config)

        # a chunked upload with one acknowledged chunk, then a PATCH cut off midway
        # (with more than the server gathers before its first write)
        patched = c.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        r = c.patch(patched, content=b"A" * 50_000, headers={"Content-Range": "0-49999"})
        assert r.status_code == 202
        patch_file = uploads_dir / patched.rsplit("/", 1)[1] / "data"
        started = threading.Event()
        patch = _InFlight(
            srv, "PATCH", patched, _slow_body(b"B" * (4 << 20), b"C", started, release)
        )
        assert started.wait(10)
        _wait_for(lambda: _size(patch_file) > 50_000, "the PATCH's bytes on disk")

        # a large monolithic blob POST cut off midway
        big = os.urandom(24 << 20)
        before = set(os.listdir(uploads_dir))
        started = threading.Event()
        monolithic = _InFlight(
            srv, "POST", f"/v2/{repo}/blobs/uploads/",
            _slow_body(big[: 12 << 20], big[12 << 20 :], started, release),
            params={"digest": sha256(big)},
        )  # fmt: skip
        assert started.wait(10)

        def monolithic_bytes_arrived() -> bool:
            fresh = set(os.listdir(uploads_dir)) - before
            return any(_size(uploads_dir / u / "data") >= 8 << 20 for u in fresh)

        _wait_for(monolithic_bytes_arrived, "the POST's bytes on disk")

        # a finishing PUT with the last chunk, cut off midway
        finishing = c.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        finish_file = uploads_dir / finishing.rsplit("/", 1)[1] / "data"
        whole = os.urandom(3 << 20)
        started = threading.Event()
        put = _InFlight(
            srv, "PUT", finishing, _slow_body(whole[: 2 << 20], whole[2 << 20 :], started, release),
            params={"digest": sha256(whole)},
        )  # fmt: skip
        assert started.wait(10)
        _wait_for(lambda: _size(finish_file) > 0, "the PUT's bytes on disk")

        # a manifest PUT whose body stops midway
        torn_manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, config),
                "layers": [descriptor(OCI_LAYER, layer)],
                "annotations": {"torn": "yes"},
            }
        ).encode()
        started = threading.Event()
        torn = _InFlight(
            srv, "PUT", f"/v2/{repo}/manifests/torn",
            _slow_body(torn_manifest[:100], torn_manifest[100:], started, release),
            headers={"Content-Type": OCI_MANIFEST, "Content-Length": str(len(torn_manifest))},
        )  # fmt: skip
        assert started.wait(10)

        # manifest PUTs back to back, recording which were acknowledged
        acknowledged: dict[str, bytes] = {}
        unanswered: dict[str, bytes] = {}
        sending = threading.Event()
        stop = threading.Event()

        def manifests() -> None:
            with srv.client(timeout=30) as m:
                n = 0
                while not stop.is_set():
                    n += 1
                    body = json.dumps(
                        {
                            "schemaVersion": 2,
                            "mediaType": OCI_MANIFEST,
                            "config": descriptor(OCI_CONFIG, config),
                            "layers": [descriptor(OCI_LAYER, layer)],
                            "annotations": {"n": str(n)},
                        }
                    ).encode()
                    digest = sha256(body)
                    unanswered[digest] = body
                    sending.set()
                    try:
                        r = put_manifest(m, repo, f"t{n}", body)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acknowledged[digest] = unanswered.pop(digest)

        writer = threading.Thread(target=manifests)
        writer.start()
        _wait_for(lambda: len(acknowledged) >= 5, "acknowledged manifests")
        sending.clear()
        assert sending.wait(10)  # the next PUT is on its way: pull the plug now
        srv.kill()
        stop.set()
        release.set()
        for request in (patch, monolithic, put, torn):
            request.thread.join(30)
            assert request.response is None and request.error is not None
        writer.join(30)

    with run_server(data_dir, env=LONG_LEASE) as srv, srv.client() as c:
        # everything acknowledged is there, byte for byte
        g = c.get(f"/v2/{repo}/manifests/v1")
        assert g.status_code == 200 and g.content == image_manifest
        assert g.headers["Docker-Content-Digest"] == image_digest == sha256(g.content)
        assert c.get(f"/v2/{repo}/blobs/{layer_digest}").content == layer
        for digest, body in acknowledged.items():
            g = c.get(f"/v2/{repo}/manifests/{digest}")
            assert g.status_code == 200 and g.content == body
        # what was cut off is not there
        assert c.head(f"/v2/{repo}/blobs/{sha256(big)}").status_code == 404
        assert c.head(f"/v2/{repo}/blobs/{sha256(whole)}").status_code == 404
        torn_blob = sha256(b"A" * 50_000 + b"B" * (4 << 20))
        assert c.head(f"/v2/{repo}/blobs/{torn_blob}").status_code == 404
        assert c.head(f"/v2/{repo}/manifests/{sha256(torn_manifest)}").status_code == 404
        assert c.head(f"/v2/{repo}/manifests/torn").status_code == 404
        # a manifest whose PUT was sent but never answered either made it whole or not at all
        for digest, body in unanswered.items():
            g = c.get(f"/v2/{repo}/manifests/{digest}")
            assert g.status_code == 404 or g.content == body

        # the interrupted sessions resume at once, where they were acknowledged
        status = c.get(patched)
        assert status.status_code == 204 and status.headers["Range"] == "0-49999"
        r = c.patch(patched, content=b"D" * 10, headers={"Content-Range": "50000-50009"})
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == "0-50009"
        done = b"A" * 50_000 + b"D" * 10
        r = c.put(r.headers["Location"], params={"digest": sha256(done)})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/{repo}/blobs/{sha256(done)}").content == done
        r = c.put(finishing, params={"digest": sha256(whole)}, content=whole)
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/{repo}/blobs/{sha256(whole)}").content == whole
        assert push_blob(c, repo, big) == sha256(big)  # the cut-off POST, restarted
    _check_consistency(data_dir)


def test_sigterm_lets_in_flight_request_finish(tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as srv, srv.client() as c:
        loc = c.post("/v2/graceful/app/blobs/uploads/").headers["Location"]
        started, release = threading.Event(), threading.Event()
        result: list[httpx.Response] = []

        def send() -> None:
            with srv.client(timeout=30) as c2:
                result.append(
                    c2.patch(loc, content=_slow_body(b"x" * 1000, b"y" * 1000, started, release))
                )

        t = threading.Thread(target=send)
        t.start()
        assert started.wait(10)
        srv.process.send_signal(signal.SIGTERM)
        release.set()
        t.join(30)
        assert result and result[0].status_code == 202, result
        assert result[0].headers["Range"] == "0-1999"
        assert srv.process.wait(30) == 0 or srv.process.returncode in (0, -signal.SIGTERM)
    assert os.path.exists(tmp_path / "data" / "dockyard.db")
