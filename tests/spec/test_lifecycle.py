"""Crash safety and graceful shutdown, each on a server of its own."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.spec.helpers import push_image, sha256
from tests.support.server import run_server

SHORT_LEASE = {"DOCKYARD__REGISTRY__UPLOAD_LEASE_SECONDS": "1"}


def _slow_body(
    first: bytes, rest: bytes, started: threading.Event, release: threading.Event
) -> Iterator[bytes]:
    yield first
    started.set()
    release.wait(30)
    yield rest


def test_kill_9_mid_patch_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir, env=SHORT_LEASE) as srv, srv.client() as c:
        digest, manifest = push_image(c, "crash/app", "v1")
        loc = c.post("/v2/crash/app/blobs/uploads/").headers["Location"]
        r = c.patch(loc, content=b"A" * 50_000, headers={"Content-Range": "0-49999"})
        assert r.status_code == 202
        started, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def send() -> None:
            try:
                with srv.client(timeout=30) as c2:
                    c2.patch(loc, content=_slow_body(b"B" * 70_000, b"C" * 10, started, release))
            except httpx.HTTPError as exc:
                errors.append(exc)

        t = threading.Thread(target=send)
        t.start()
        assert started.wait(10)
        # wait until the server has the in-flight bytes on disk, then pull the plug
        upload_file = data_dir / "storage" / "uploads" / loc.rsplit("/", 1)[1] / "data"
        deadline = time.monotonic() + 10
        while upload_file.stat().st_size <= 50_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.kill()
        release.set()
        t.join(30)
        assert errors, "the interrupted PATCH cannot have succeeded"

    with run_server(data_dir, env=SHORT_LEASE) as srv, srv.client() as c:
        # the acknowledged manifest and chunk survived; the torn one did not count
        g = c.get("/v2/crash/app/manifests/v1")
        assert g.status_code == 200 and g.content == manifest
        assert c.get(loc).headers["Range"] == "0-49999"
        # once the dead writer's lease lapses the client resumes where it was acknowledged
        deadline = time.monotonic() + 15
        while True:
            r = c.patch(loc, content=b"D" * 10, headers={"Content-Range": "50000-50009"})
            if r.status_code == 202 or time.monotonic() > deadline:
                break
            assert r.status_code == 416
            time.sleep(0.1)
        assert r.status_code == 202, r.text
        data = b"A" * 50_000 + b"D" * 10
        r = c.put(r.headers["Location"], params={"digest": sha256(data)})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/crash/app/blobs/{sha256(data)}").content == data
        # the torn bytes never became a blob
        torn = sha256(b"A" * 50_000 + b"B" * 70_000)
        assert c.head(f"/v2/crash/app/blobs/{torn}").status_code == 404
        assert digest


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
