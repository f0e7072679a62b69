"""A full data disk, for real: the server's data folder on a small tmpfs mounted
by the test, filled to the last byte, then freed."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.spec.helpers import sha256
from tests.support.server import run_server

DISK_BYTES = 48 << 20
ENV = {
    # readiness fails below 4 MiB free: the server starts with room to spare
    "DOCKYARD__REGISTRY__MIN_FREE_BYTES": str(4 << 20),
    "DOCKYARD__SERVER__ACCESS_LOG": "false",
}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(path: Path) -> None:
    """Write until the disk says ENOSPC."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                chunk = chunk[: len(chunk) // 2]
                if len(chunk) < 512:
                    return


def _unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    (err,) = r.json()["errors"]
    assert err["code"] == "UNAVAILABLE" and "storage is full" in err["message"], err
    assert int(r.headers["Retry-After"]) > 0


def test_a_full_disk_answers_503_and_recovers(small_disk: Path) -> None:
    data_dir = small_disk / "data"
    with run_server(data_dir, workers=1, env=ENV) as srv, srv.client() as c:
        admin = httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30)
        assert c.get("/v2/").status_code == 200  # logged in (token) before the disk fills
        repo = "full/app"
        blob = os.urandom(1 << 20)
        # Let SQLite's write-ahead log start empty, as after any checkpoint, so that
        # the server's next metadata write needs new space too.
        db = sqlite3.connect(data_dir / "dockyard.db")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        filler = small_disk / "filler"
        _fill(filler)
        uploads = data_dir / "storage" / "uploads"
        before = set(os.listdir(uploads)) if uploads.exists() else set()

        # a push: the blob cannot be stored
        _unavailable(c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)},
                            content=blob))  # fmt: skip
        assert (set(os.listdir(uploads)) if uploads.exists() else set()) == before
        assert os.listdir(data_dir / "storage" / "_tmp") == []
        # a new upload session, a project: the metadata store has no room either
        _unavailable(c.post(f"/v2/{repo}/blobs/uploads/"))
        _unavailable(admin.post("/api/v1/projects", json={"name": "fullproject"}))
        # a failed login is still a failed login
        r = httpx.get(f"{srv.url}/v2/", auth=("admin", "wrong-password"))
        assert r.status_code == 401, r.text
        ready = httpx.get(f"{srv.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["disk"].startswith("failed: no space"), ready.text
        metrics = httpx.get(f"{srv.url}/metrics").text
        lost = [line for line in metrics.splitlines()
                if line.startswith("dockyard_audit_entries_lost_total ")]  # fmt: skip
        assert lost and float(lost[0].split()[1]) >= 1, lost

        # space is back: ready again, and the same requests succeed
        filler.unlink()
        assert httpx.get(f"{srv.url}/readyz").status_code == 200
        r = c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob)
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/{repo}/blobs/{sha256(blob)}").content == blob
        assert admin.post("/api/v1/projects", json={"name": "fullproject"}).status_code == 201
        assert httpx.get(f"{srv.url}/v2/", auth=srv.admin).status_code == 200
        admin.close()
        log = srv.log()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("answering 503 until space is freed") == 1, log[-3000:]
    assert "space is available again" in log
    assert "audit entries were not recorded" in log
