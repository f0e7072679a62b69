"""The proxy cache's management surface on a real server: `dockyard proxy …` over
HTTP, and the registry refusing pushes into a proxy project and anonymous pulls of a
private one (before anything is fetched)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer, run_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("proxy-server") / "data", workers=1) as s:
        # the endpoints the caches name (nothing listens there: these tests fetch nothing)
        with httpx.Client(base_url=s.url, auth=s.admin, timeout=30) as api:
            for name in ("dockerhub", "x"):
                made = api.post(
                    "/api/v1/registries", json={"name": name, "url": "https://127.0.0.1:9"}
                )
                assert made.status_code == 201, made.text
        yield s


def _cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    user, password = server.admin
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "proxy", *args, "--url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKYARD_USERNAME": user, "DOCKYARD_PASSWORD": password},
    )


def test_cli_round_trip_and_refusals(server: RunningServer, tmp_path: Path) -> None:
    unknown = _cli(server, "create", "nowhere", "--endpoint", "no-such-endpoint")
    assert unknown.returncode != 0 and "no-such-endpoint" in unknown.stderr
    made = _cli(
        server,
        "create",
        "hub",
        "--endpoint",
        "dockerhub",
        "--mirror",
        "docker.io",
        "--tag-ttl",
        "60",
        "--size-limit",
        "1GiB",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["size_limit_bytes"] == 1 << 30
    again = _cli(server, "create", "hub", "--endpoint", "dockerhub")
    assert again.returncode != 0
    assert "already" in again.stderr and "Traceback" not in again.stderr
    clash = _cli(server, "create", "other", "--endpoint", "x", "--mirror", "docker.io")
    assert clash.returncode != 0 and "docker.io" in clash.stderr
    listed = _cli(server, "list", "--json")
    assert [c["project"] for c in json.loads(listed.stdout)] == ["hub"]
    shown = _cli(server, "show", "hub", "--json")
    assert json.loads(shown.stdout)["stats"]["miss"] == 0
    updated = _cli(server, "update", "hub", "--tag-ttl", "5", "--json")
    assert json.loads(updated.stdout)["tag_ttl_seconds"] == 5

    with httpx.Client(base_url=server.url, auth=server.admin, timeout=30) as admin:
        put = admin.put(
            "/v2/hub/library/x/manifests/v1",
            content=b"{}",
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code == 403
        assert "proxy cache" in put.json()["errors"][0]["message"]
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        got = anonymous.get("/v2/library/nginx/manifests/1.27", params={"ns": "docker.io"})
        assert got.status_code == 401
        assert 'scope="repository:hub/library/nginx:pull"' in got.headers["www-authenticate"]

    gone = _cli(server, "delete", "hub")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(_cli(server, "list", "--json").stdout) == []
    missing = _cli(server, "show", "hub")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
