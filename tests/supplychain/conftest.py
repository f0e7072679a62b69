"""A registry of the supply-chain tests' own, in both topologies (`embedded`: SQLite +
folder; `production`: PostgreSQL + S3 + Redis), the OSV dataset of tests/support/osv
imported, and helpers to push images and their signatures. Names are unique per test,
so tests share the server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lifecycle.retention_support import API, ok, unique, wait_for
from tests.support.server import RunningServer, run_server

ENV = {"DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "100000", "DOCKYARD__JOBS__POLL_SECONDS": "0.2"}

__all__ = ["API", "ok", "unique", "wait_for"]


@pytest.fixture(scope="module", params=["embedded", "production"])
def sc_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    base: Path = tmp_path_factory.mktemp(f"supplychain-{request.param}")
    if request.param == "embedded":
        with run_server(base / "data", env=ENV) as srv:
            srv.env = ENV  # type: ignore[attr-defined]
            yield srv
        return
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        env = {**production_env(s3, s3.create_bucket(), database_url), **ENV}
        migrate(env, base / "data")
        with run_server(base / "data", env=env) as srv:
            srv.env = env  # type: ignore[attr-defined]
            yield srv


@pytest.fixture
def api(sc_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sc_server.url + API, auth=sc_server.admin, timeout=60) as c:
        yield c


@pytest.fixture
def registry(sc_server: RunningServer) -> Iterator[httpx.Client]:
    with sc_server.client(sc_server.admin) as c:
        yield c


@pytest.fixture
def project(api: httpx.Client) -> str:
    name = unique("sc")
    ok(api.post("/projects", json={"name": name, "public": False}), 201)
    return name


def dockyard(
    server: RunningServer, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """A `dockyard` command against the server's own store (its data dir, its env)."""
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args, "--data-dir", str(server.data_dir)],
        env={**os.environ, **getattr(server, "env", {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_job(api: httpx.Client, job_id: int, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = ok(api.get(f"/jobs/{job_id}"))
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(f"job {job_id}", finished, timeout=timeout)
