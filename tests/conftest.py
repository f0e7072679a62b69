from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.server import RunningServer, run_server

if TYPE_CHECKING:
    from tests.support.oidc_provider import OidcProvider
    from tests.support.s3server import S3Server
    from tests.support.slapd import Slapd


# The suite runs in several processes (scripts/test.sh: pytest-xdist, a file per
# process, handed out in collection order; `--no-loadscope-reorder`, or xdist would
# hand out the files with the most tests first instead). The longest files go first,
# so none of them starts last and keeps one process busy while the others idle; the
# rest keep their order. Measured (seconds, from --junitxml) on the 2-core machine.
SLOW_FIRST = (
    "tests/api/test_cli.py",  # 330
    "tests/api/test_schemathesis.py",  # 280
    "tests/lifecycle/test_gc_e2e.py",  # 250
    "tests/storage/test_s3.py",  # 200
    "tests/backup/",  # 180
    "tests/lifecycle/test_retention_cli.py",  # 170
    "tests/ui/test_screens.py",  # 120
    "tests/webhooks/test_end_to_end.py",  # 100
    "tests/supplychain/test_scanning.py",  # 100
    "tests/lifecycle/test_fsck.py",  # 100
    "tests/webhooks/test_service.py",  # 90
    "tests/api/test_lists.py",  # 65
    "tests/replication/",
    "tests/access/test_throttling.py",
    "tests/convert/",
    "tests/deploy/",
    "tests/remote/test_endpoints.py",
    "tests/proxy/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for n, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return n
        return len(SLOW_FIRST)

    items.sort(key=rank)  # stable: within a rank, collection order


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real registry (2 workers) on the embedded default (SQLite + local folder),
    shared by the session."""
    with run_server(tmp_path_factory.mktemp("registry-embedded") / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def production_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real registry (2 workers) on the production topology (PostgreSQL + S3 +
    Redis), shared by the session."""
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    base: Path = tmp_path_factory.mktemp("registry-production")
    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        bucket = s3.create_bucket()
        env = production_env(s3, bucket, database_url)
        migrate(env, base / "data")
        with run_server(base / "data", env=env) as srv:

            def list_storage(prefix: str) -> list[str]:
                head = f"registry/{prefix}/"
                return sorted({k[len(head) :].split("/")[0] for k in s3.keys(bucket, head)})

            srv.list_storage = list_storage
            yield srv


@pytest.fixture(scope="module", params=["embedded", "production"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    """The session's registry in each topology: `embedded` and `production`. Module
    scoped over session-scoped servers, so a test file that runs both topologies (as
    every file does, each process of the suite taking whole files) switches between
    two running servers instead of stopping one and starting the other."""
    found = request.getfixturevalue(f"{request.param}_server")
    assert isinstance(found, RunningServer)
    return found


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from tests.support.postgres import temporary_database

    async with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-speaking server (moto) on loopback, shared by the session; tests take
    a fresh bucket each with `s3_server.create_bucket()`."""
    from tests.support.s3server import run_s3_server

    with run_s3_server(tmp_path_factory.mktemp("s3server")) as s3:
        yield s3


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A real OpenID provider (node oidc-provider) on loopback, shared by the session:
    accounts alice (groups team-a-devs, registry-admins) and bob (team-b); one client
    that may redirect to http://127.0.0.1:<any port>/auth/oidc/callback.
    `oidc_provider.login(authorization_url, "alice")` plays the browser."""
    import os

    from tests.support.oidc_provider import (
        LOOPBACK_CALLBACK,
        provider_installed,
        run_oidc_provider,
    )

    if not provider_installed():
        message = "oidc-provider is not installed: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing provider is a broken setup
        pytest.skip(message)
    with run_oidc_provider(tmp_path_factory.mktemp("oidc"), [LOOPBACK_CALLBACK]) as op:
        yield op


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A real OpenLDAP server (slapd) on loopback, shared by the session, seeded with
    alice (groups team-a-devs, registry-admins), bob (team-b), carol (no groups), a
    user whose uid is `eve*)(uid=*` and an ambiguous dave; `slapd.settings(...)` gives
    LdapSettings pointing at it (see tests/support/slapd.py)."""
    import os
    import shutil

    from tests.support.slapd import run_slapd

    if not (shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin")):
        message = "slapd is not installed: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing slapd is a broken setup
        pytest.skip(message)
    with run_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server
