"""Tiering on a real server, driven as an operator and a client would: skopeo pushes,
`dockyard tiering` sets the rule and runs the pass, skopeo pulls the cold image back
(verified layout, same digests), `dockyard fsck --verify-digests` is clean over both
tiers. On S3 the hot tier redirects blob GETs to presigned URLs, so a cold blob's GET
must redirect to the cold bucket, not to a key that is gone."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.oci_layout import build_image, resolve_ref, verify_layout
from tests.support.s3server import S3Server
from tests.support.server import ADMIN_PASSWORD, RunningServer, run_server
from tests.support.tools import Skopeo

pytestmark = pytest.mark.e2e
KiB = 1024


@pytest.fixture(scope="module", params=["embedded", "s3-redirect"])
def tiered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, Path, S3Server | None, str | None]]:
    base = tmp_path_factory.mktemp(f"tiered-{request.param}")
    cold: dict[str, object]
    config: dict[str, object] = {}
    s3: S3Server | None = None
    cold_bucket = None
    if request.param == "s3-redirect":
        s3 = request.getfixturevalue("s3_server")
        config["storage"] = s3.settings(s3.create_bucket(), "hot", redirect=True)
        cold_bucket = s3.create_bucket()
        cold = s3.settings(cold_bucket, "cold", storage_class="STANDARD_IA", redirect=True)
    else:
        cold = {"driver": "filesystem", "root": str(base / "cold-tier")}
    config["tiering"] = {"cold": cold, "min_blob_bytes": 100 * KiB, "schedule": None}
    path = base / "dockyard.yaml"
    path.write_text(yaml.safe_dump(config))
    with run_server(base / "data", workers=1, env={"DOCKYARD_CONFIG": str(path)}) as server:
        yield server, path, s3, cold_bucket


def dockyard(server: RunningServer, config: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DOCKYARD_CONFIG": str(config),
        "DOCKYARD_URL": server.url,
        "DOCKYARD_USERNAME": "admin",
        "DOCKYARD_PASSWORD": ADMIN_PASSWORD,
    }
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"dockyard {' '.join(args)}: {done.stderr}"
    return done.stdout


def age_everything(data_dir: Path, days: int) -> None:
    then = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(tzinfo=None)
    with sqlite3.connect(data_dir / "dockyard.db") as conn:
        conn.execute("UPDATE manifests SET created_at = ?", (then.isoformat(sep=" "),))


def test_a_cold_image_pulls_back_identical(
    tiered: tuple[RunningServer, Path, S3Server | None, str | None], tmp_path: Path
) -> None:
    server, config, s3, cold_bucket = tiered
    skopeo = Skopeo(server.hostport, workdir=tmp_path, credentials=("admin", ADMIN_PASSWORD))
    with server.client(("admin", ADMIN_PASSWORD)) as c:
        assert c.post("/api/v1/projects", json={"name": "team"}).status_code == 201
    img = build_image(tmp_path / "src", "v1", layers=[300 * KiB, 2 * 1024 * KiB], seed="cold")
    assert skopeo.push_oci(img.layout, "v1", "team/app", "v1") == img.manifest_digest

    out = dockyard(server, config, "tiering", "set", "team", "10")
    assert "10" in out
    age_everything(server.data_dir, 11)  # never pulled, pushed 11 days ago
    out = dockyard(server, config, "tiering", "run", "--wait")
    assert "moved cold: 2 blobs" in out, out  # the two layers; the config is under 100 KiB
    status = json.loads(dockyard(server, config, "tiering", "status", "--json"))
    assert status["cold"] == {"blobs": 2, "bytes": sum(x.size for x in img.layers)}
    if s3 is not None:
        assert cold_bucket is not None
        held = [k for k in s3.keys(cold_bucket, "cold/blobs/") if "~parts" not in k]
        assert sorted(k.rsplit("/", 1)[1] for k in held) == sorted(
            x.digest.split(":", 1)[1] for x in img.layers
        )
    else:
        cold_files = list((config.parent / "cold-tier" / "blobs").rglob("*"))
        assert {p.name for p in cold_files if p.is_file()} == {
            x.digest.split(":", 1)[1] for x in img.layers
        }

    if s3 is not None:  # the redirect of a cold blob names the cold bucket
        with server.client(("admin", ADMIN_PASSWORD)) as c:
            got = c.get(f"/v2/team/app/blobs/{img.layers[0].digest}", follow_redirects=False)
            assert got.status_code == 307, got.text
            assert f"/{cold_bucket}/cold/blobs/" in got.headers["location"]

    out_dir = tmp_path / "pulled"
    skopeo.pull_oci("team/app", "v1", out_dir, "v1")
    report = verify_layout(out_dir)
    assert resolve_ref(out_dir, "v1")["digest"] == img.manifest_digest
    for layer in img.layers:
        assert report.blobs[layer.digest] == layer.size

    fsck = json.loads(
        dockyard(
            server, config, "fsck", "--data-dir", str(server.data_dir), "--verify-digests", "--json"
        )
    )
    assert fsck["clean"] and not fsck["garbage"], fsck
    assert fsck["verified"] >= 3
