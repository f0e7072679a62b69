"""Fixtures and helpers of the retention, immutability and pull-statistics tests
(conftest.py makes the fixtures available): a registry of their own, in both
topologies (`embedded`: SQLite + folder; `production`: PostgreSQL + S3 + Redis),
flushing pull statistics every 0.2 s
so a test waits for its pulls to land (on a condition, with a deadline) instead of
the default 5 s. Names are unique per test, so tests share the server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary

API = "/api/v1"
ENV = {
    "DOCKYARD__REGISTRY__PULL_STATS_FLUSH_SECONDS": "0.2",
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "100000",
}
T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    """`probe()` until it returns something other than None (or False), or fail."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(0.05)  # polling interval of a condition with a deadline
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module", params=["embedded", "production"])
def lifecycle_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    base: Path = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    if request.param == "embedded":
        with run_server(base / "data", env=ENV) as srv:
            yield srv
        return
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        env = {**production_env(s3, s3.create_bucket(), database_url), **ENV}
        migrate(env, base / "data")
        with run_server(base / "data", env=env) as srv:
            yield srv


@pytest.fixture
def admin_api(lifecycle_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=lifecycle_server.url + API, auth=lifecycle_server.admin, timeout=60
    ) as c:
        yield c


@pytest.fixture
def skopeo(lifecycle_server: RunningServer, tmp_path: Path) -> Skopeo:
    require_binary("skopeo")
    return Skopeo(lifecycle_server.hostport, workdir=tmp_path, credentials=lifecycle_server.admin)


def ok(response: httpx.Response, *expected: int) -> Any:
    assert response.status_code in (expected or (200, 201, 204)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def artifacts(api: httpx.Client, repository: str) -> dict[str, dict[str, Any]]:
    """The repository's artifacts by digest, as the management API lists them."""
    project, path = repository.split("/", 1)
    listed = ok(api.get(f"/projects/{project}/repositories/{path}/-/artifacts"))
    return {a["digest"]: a for a in listed}


def admin_api_for(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url + API, auth=server.admin, timeout=60)
