"""Pull statistics after real pulls: skopeo and plain GETs count, HEADs and blob GETs
do not; the counts reach the database in batches (every 0.2 s here) and at shutdown,
and the management API lists them with each artifact."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import httpx
import pytest

from tests.lifecycle.retention_support import ENV, admin_api_for, artifacts, ok, unique, wait_for
from tests.support.oci_layout import MT_OCI_MANIFEST, build_image
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary

pytestmark = pytest.mark.e2e


def _counted(api: httpx.Client, repository: str, digest: str, expected: int) -> dict | None:
    found = artifacts(api, repository).get(digest)
    return found if found is not None and found["pull_count"] == expected else None


def test_manifest_gets_are_counted_heads_and_blobs_are_not(
    lifecycle_server: RunningServer, admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    project = unique("pulls")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    repository = f"{project}/app"
    one = build_image(tmp_path / "one", "v1", layers=[2048], seed=repository + "1")
    two = build_image(tmp_path / "two", "v2", layers=[2048], seed=repository + "2")
    d1 = skopeo.push_oci(one.layout, "v1", repository, "v1")
    d2 = skopeo.push_oci(two.layout, "v2", repository, "v2")
    assert artifacts(admin_api, repository)[d1]["pull_count"] == 0

    before = dt.datetime.now(dt.UTC)
    skopeo.pull_oci(repository, "v1", tmp_path / "out", "v1")  # one manifest GET
    with lifecycle_server.client() as c:
        accept = {"Accept": MT_OCI_MANIFEST}
        for _ in range(3):
            assert c.get(f"/v2/{repository}/manifests/v1", headers=accept).status_code == 200
        assert c.get(f"/v2/{repository}/manifests/{d1}", headers=accept).status_code == 200
        for _ in range(5):  # HEADs are not pulls
            assert c.head(f"/v2/{repository}/manifests/v1", headers=accept).status_code == 200
            assert c.head(f"/v2/{repository}/manifests/v2", headers=accept).status_code == 200
        layer = one.layers[0].digest
        for _ in range(3):  # neither are blob GETs
            assert c.get(f"/v2/{repository}/blobs/{layer}").status_code == 200
        # a failed GET is not a pull either
        assert c.get(f"/v2/{repository}/manifests/nope", headers=accept).status_code == 404

    seen = wait_for("five pulls of v1", lambda: _counted(admin_api, repository, d1, 5))
    pulled_at = dt.datetime.fromisoformat(seen["last_pulled_at"])
    assert before - dt.timedelta(seconds=1) <= pulled_at <= dt.datetime.now(dt.UTC)
    listed = artifacts(admin_api, repository)
    assert listed[d2]["pull_count"] == 0 and listed[d2]["last_pulled_at"] is None

    # the next pulls add to what was flushed
    with lifecycle_server.client() as c:
        assert c.get(f"/v2/{repository}/manifests/v2", headers=accept).status_code == 200
        assert c.get(f"/v2/{repository}/manifests/v1", headers=accept).status_code == 200
    wait_for("v2 counted", lambda: _counted(admin_api, repository, d2, 1))
    wait_for("v1 counted again", lambda: _counted(admin_api, repository, d1, 6))


def test_pulls_counted_before_a_shutdown_are_flushed_by_it(tmp_path: Path) -> None:
    """With a flush interval far longer than the test, only the shutdown's flush can
    write the counts: SIGTERM, start again on the same data, and they are there."""
    require_binary("skopeo")
    env = {**ENV, "DOCKYARD__REGISTRY__PULL_STATS_FLUSH_SECONDS": "3600"}
    data = tmp_path / "data"
    repository = "shutdown/app"
    with run_server(data, env=env, workers=1) as srv:
        skopeo = Skopeo(srv.hostport, workdir=tmp_path, credentials=srv.admin)
        img = build_image(tmp_path / "img", "v1", layers=[1024], seed=repository)
        digest = skopeo.push_oci(img.layout, "v1", repository, "v1")
        with srv.client() as c:
            for _ in range(4):
                r = c.get(f"/v2/{repository}/manifests/v1", headers={"Accept": MT_OCI_MANIFEST})
                assert r.status_code == 200
        with admin_api_for(srv) as api:
            assert artifacts(api, repository)[digest]["pull_count"] == 0  # not flushed yet
        srv.process.send_signal(signal.SIGTERM)
        assert srv.process.wait(timeout=60) == 0
    with run_server(data, env=env, workers=1) as srv, admin_api_for(srv) as api:
        assert artifacts(api, repository)[digest]["pull_count"] == 4
