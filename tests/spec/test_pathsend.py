"""Blob GETs through ASGI pathsend (stream_slots=0 sends every whole blob that way)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.spec.helpers import push_blob
from tests.support.server import run_server


def test_pathsend_serves_exact_bytes(tmp_path: Path) -> None:
    env = {"DOCKYARD__SERVER__STREAM_SLOTS": "0"}
    with run_server(tmp_path / "data", env=env) as srv, srv.client() as c:
        data = os.urandom(3 * 1024 * 1024 + 5)
        digest = push_blob(c, "ps/app", data)
        r = c.get(f"/v2/ps/app/blobs/{digest}")
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(data))
        assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
        r = c.get(f"/v2/ps/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == data[10:20]
