"""A scanner adapter plugged into a real server (embedded default): Dockyard asks the
loopback adapter of tests/support/scanner_adapter.py to scan, handing it a pull token for
the one repository; the adapter pulls the manifest with it (even with the vulnerability
policy refusing unscanned images to everyone else), and its report is stored under its
name, shown by the API, and read by the pull policy when it is the policy scanner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.supplychain.conftest import API, ENV, ok, unique, wait_for
from tests.supplychain.helpers import denied_message, pull, push_image
from tests.support.scanner_adapter import ScannerAdapterServer
from tests.support.server import RunningServer, free_port, run_server


@pytest.fixture(scope="module")
def adapter() -> Iterator[ScannerAdapterServer]:
    server = ScannerAdapterServer()
    server.behaviour.pending_polls = 1
    server.behaviour.refresh_after = "0.2"
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def adapter_server(
    adapter: ScannerAdapterServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    port = free_port()
    adapters = [{"name": "trivy", "url": adapter.url, "timeout_seconds": 60}]
    env = {
        **ENV,
        "DOCKYARD__SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DOCKYARD__SUPPLYCHAIN__ADAPTERS": json.dumps(adapters),
        "DOCKYARD__SUPPLYCHAIN__POLICY_SCANNER": "trivy",
    }
    base: Path = tmp_path_factory.mktemp("supplychain-adapter")
    with run_server(base / "data", env=env, port=port) as srv:
        yield srv


def test_adapter_scans_with_a_one_repository_token(
    adapter: ScannerAdapterServer, adapter_server: RunningServer
) -> None:
    srv = adapter_server
    with (
        httpx.Client(base_url=srv.url + API, auth=srv.admin, timeout=60) as api,
        srv.client(srv.admin) as registry,
    ):
        project = unique("scan")
        ok(api.post("/projects", json={"name": project, "public": False}), 201)
        policy = {
            "vulnerabilities": {"mode": "enforce", "severity": "HIGH", "block_unscanned": True}
        }
        ok(api.put(f"/projects/{project}/supplychain", json=policy))
        image = push_image(registry, f"{project}/app", "1")
        assert "not yet scanned" in denied_message(pull(registry, image.repository, "1"))
        adapter.behaviour.findings[image.digest] = [
            {
                "id": "CVE-2024-0001",
                "package": "openssl",
                "version": "3.0.1",
                "fix_version": "3.0.2",
                "severity": "Critical",
                "description": "a bad one",
                "links": ["https://example.test/CVE-2024-0001"],
            }
        ]
        job = ok(api.post(f"/projects/{project}/repositories/app/-/artifacts/1/scan"), 202)
        done = wait_for(
            "the scan job",
            lambda: (
                (j := ok(api.get(f"/jobs/{job['job_id']}")))["state"] in ("succeeded", "failed")
                and j
            ),
            timeout=60,
        )
        assert done["state"] == "succeeded", done
        assert "trivy" in (done["result"] or {}), done
        report = ok(
            api.get(
                f"/projects/{project}/repositories/app/-/artifacts/1/vulnerabilities",
                params={"scanner": "trivy"},
            )
        )
        assert report["status"] == "succeeded", report
        assert [
            (v["id"], v["package"], v["fixed_versions"], v["severity"])
            for v in report["vulnerabilities"]
        ] == [("CVE-2024-0001", "openssl", ["3.0.2"], "CRITICAL")]
        # the adapter pulled the manifest itself, with a bearer token for this repository
        scans = [
            s for s in adapter.scans.values() if s.request["artifact"]["digest"] == image.digest
        ]
        assert len(scans) == 1 and scans[0].pull_status == 200
        assert scans[0].request["registry"]["authorization"].startswith("Bearer ")
        assert scans[0].request["registry"]["url"] == srv.url
        message = denied_message(pull(registry, image.repository, "1"))
        assert "1 CRITICAL at or above HIGH (CVE-2024-0001)" in message, message
