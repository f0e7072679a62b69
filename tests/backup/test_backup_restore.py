"""Backup and restore across topologies, with real clients: a backup of the embedded
default taken while pushes go on; restored into PostgreSQL + S3, where `dockyard fsck`
is clean and every image acknowledged before the backup pulls with its digests
(skopeo); an incremental backup copies exactly the new blobs; `backup verify` finds a
flipped byte and a damaged table file; the production instance backed up to an S3
destination (PostgreSQL's snapshot transaction) and restored into a fresh embedded
one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.spec.helpers import OCI_MANIFEST as OCI
from tests.spec.helpers import push_image
from tests.support.oci_layout import build_image, build_index
from tests.support.postgres import temporary_database_sync
from tests.support.production import production_env
from tests.support.s3server import S3Server
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary


def dockyard(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


class PushLoad:
    """Pushes small images in a thread until stopped; what was acknowledged."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.acknowledged: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        with self.server.client(self.server.admin) as c:
            while not self._stop.is_set():
                digest, _ = push_image(c, "load/app", f"t{n}")
                self.acknowledged.append((f"t{n}", digest))
                n += 1

    def __enter__(self) -> PushLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def digest_of(tool: Skopeo, repo: str, ref: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(tool.inspect_raw(tool.ref(repo, ref))).hexdigest()


def test_backup_under_load_restore_elsewhere_and_back(tmp_path: Path, s3_server: S3Server) -> None:
    require_binary("skopeo")
    dest = tmp_path / "backups"
    source_env = {"DOCKYARD__DATA_DIR": str(tmp_path / "a" / "data")}
    with run_server(tmp_path / "a" / "data", workers=1) as a:
        sa = Skopeo(a.hostport, workdir=tmp_path, credentials=a.admin)
        app = build_image(tmp_path / "oci", "v1", layers=[400_000, 60_000], seed="backup-app")
        multi = build_index(tmp_path / "oci", "multi", seed="backup-multi")
        sa.push_oci(app.layout, "v1", "team/app", "v1")
        sa.push_oci(multi.layout, "multi", "team/multi", "1", all_=True)
        with PushLoad(a) as load:
            # wait for the load to be going, then back up while it goes on
            while len(load.acknowledged) < 3:
                threading.Event().wait(0.05)
            before = list(load.acknowledged)
            first = ok(dockyard(source_env, "backup", str(dest), "--json"))
        assert first["dialect"] == "sqlite" and first["copied"]["count"] == first["blobs"]["count"]

        # an incremental backup copies only what the first one lacks
        sa.push_oci(
            build_image(tmp_path / "oci", "v2", layers=[30_000], seed="backup-v2").layout,
            "v2", "team/app", "v2",
        )  # fmt: skip
        second = ok(dockyard(source_env, "backup", "create", str(dest), "--json"))
        new_blobs = second["blobs"]["count"] - first["blobs"]["count"]
        assert new_blobs >= 2  # the new image's config and layer at least
        assert second["copied"]["count"] == new_blobs
        listed = ok(dockyard(source_env, "backup", "list", str(dest), "--json"))
        assert [s["id"] for s in listed] == [first["id"], second["id"]]
        assert "whole" in ok(dockyard(source_env, "backup", "verify", str(dest)))

    # restore the second snapshot into PostgreSQL + S3
    with temporary_database_sync("dockyard_restore") as database_url:
        bucket = s3_server.create_bucket()
        env = production_env(s3_server, bucket, database_url)
        env["DOCKYARD__DATA_DIR"] = str(tmp_path / "b" / "data")
        restored = ok(dockyard(env, "restore", str(dest), "--json"))
        assert restored["snapshot"] == second["id"]
        assert restored["blobs"]["copied"] == second["blobs"]["count"]
        fsck = dockyard(env, "fsck", "--verify-digests")
        assert fsck.returncode == 0 and "clean" in fsck.stdout, fsck.stdout + fsck.stderr
        again = dockyard(env, "restore", str(dest))
        assert again.returncode == 1 and "already holds repositories" in again.stderr
        with run_server(tmp_path / "b" / "data", workers=1, env=env) as b:
            sb = Skopeo(b.hostport, workdir=tmp_path, credentials=b.admin)  # same users
            assert digest_of(sb, "team/app", "v1") == app.manifest_digest
            assert digest_of(sb, "team/multi", "1") == multi.index_digest
            for child in multi.children:
                assert digest_of(sb, "team/multi", child.manifest_digest) == child.manifest_digest
            sb.pull_oci("team/app", "v2", tmp_path / "pulled-v2", "v2")
            with b.client(b.admin) as c:
                for tag, digest in before:  # acknowledged before the backup began
                    r = c.get(f"/v2/load/app/manifests/{tag}", headers={"Accept": OCI})
                    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
                push_image(c, "after/restore", "1")  # ids continue past the loaded ones

            # the production instance backed up to S3 (its snapshot transaction) …
            backups = s3_server.create_bucket()
            s3_dest = f"s3://{backups}/dockyard"
            s3_env = {**env, "DOCKYARD__BACKUP__S3_ENDPOINT": s3_server.endpoint,
                      "DOCKYARD__BACKUP__S3_PATH_STYLE": "true"}  # fmt: skip
            third = ok(dockyard(s3_env, "backup", s3_dest, "--json"))
            assert third["dialect"] == "postgresql"
            assert "whole" in ok(dockyard(s3_env, "backup", "verify", s3_dest))

    # … and restored into a fresh embedded instance
    c_env = {**s3_env, "DOCKYARD__DATA_DIR": str(tmp_path / "c" / "data")}
    for key in ("DOCKYARD_DATABASE_URL", "DOCKYARD_STORAGE_URL", "DOCKYARD_REDIS_URL"):
        c_env.pop(key)
    ok(dockyard(c_env, "restore", s3_dest))
    fsck = dockyard(c_env, "fsck")
    assert fsck.returncode == 0 and "clean" in fsck.stdout, fsck.stdout + fsck.stderr
    with run_server(tmp_path / "c" / "data", workers=1) as c_server:
        sc = Skopeo(c_server.hostport, workdir=tmp_path, credentials=c_server.admin)
        assert digest_of(sc, "team/app", "v1") == app.manifest_digest
        assert digest_of(sc, "after/restore", "1")


def test_verify_finds_damage(tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    env = {"DOCKYARD__DATA_DIR": str(tmp_path / "data")}
    with run_server(tmp_path / "data", workers=1) as server:
        with server.client(server.admin) as c:
            push_image(c, "v/app", "1", layers=2)
        snap = ok(dockyard(env, "backup", str(dest), "--json"))
    assert "whole" in ok(dockyard(env, "backup", "verify", str(dest)))
    blob = max(
        (p for p in (dest / "blobs").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    blob.write_bytes(bytes(data))
    quick = dockyard(env, "backup", "verify", str(dest), "--quick")
    assert quick.returncode == 0  # sizes only: a flipped byte needs the re-hash
    found = dockyard(env, "backup", "verify", str(dest))
    assert found.returncode == 1 and f"damaged: blob sha256:{blob.name}" in found.stdout
    table = dest / "snapshots" / snap["id"] / "tables" / "manifests.jsonl.gz"
    table.write_bytes(table.read_bytes()[:-10])
    found = dockyard(env, "backup", "verify", str(dest), "--quick")
    assert found.returncode == 1 and "table manifests" in found.stdout
    refused = dockyard(env, "backup", "verify", str(tmp_path / "empty"))
    assert refused.returncode == 1 and refused.stderr.startswith("dockyard backup: no complete")


@pytest.mark.parametrize("where", ["ftp://x/y", "s3://"])
def test_bad_destinations_are_one_line(tmp_path: Path, where: str) -> None:
    done = dockyard({"DOCKYARD__DATA_DIR": str(tmp_path / "data")}, "backup", "list", where)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("dockyard backup: ")
