"""A registry of their own for the management API tests, in both topologies
(`embedded`: SQLite + folder; `production`: PostgreSQL + S3 + Redis), with helpers
that people it through the API itself. Names are unique per test, so tests share
the server without stepping on each other.

Login throttling is raised out of reach here: these tests make failed logins on
purpose (revoked, rotated, expired robots), all from 127.0.0.1, and throttling has
tests of its own (tests/access).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, run_server

PASSWORD = "api-test-password"
API = "/api/v1"
ENV = {
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "100000",
    # schemathesis tries bad credentials on every operation, all from 127.0.0.1
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES_PER_ADDRESS": "100000",
    # pull counts reach the database (and the listings) within a fifth of a second
    "DOCKYARD__REGISTRY__PULL_STATS_FLUSH_SECONDS": "0.2",
}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def ok(response: httpx.Response, *expected: int) -> Any:
    assert response.status_code in (expected or (200, 201, 204)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error of an error response, after checking its status and code."""
    assert response.status_code == status, (status, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    (err,) = response.json()["errors"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    return err  # type: ignore[no-any-return]


@dataclass
class Registry:
    server: RunningServer
    database_url: str | None
    """PostgreSQL's URL in the production topology; None on SQLite"""

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, credentials: tuple[str, str] | None = None, **kw: Any) -> httpx.Client:
        """A client of the management API: basic credentials, or none."""
        return httpx.Client(base_url=self.url + API, auth=credentials, timeout=60, **kw)

    def admin(self) -> httpx.Client:
        return self.api(self.server.admin)

    def user(self, prefix: str = "u", **extra: Any) -> tuple[str, str]:
        name = unique(prefix)
        with self.admin() as a:
            ok(a.post("/users", json={"username": name, "password": PASSWORD, **extra}), 201)
        return name, PASSWORD

    def project(self, prefix: str = "p", *, public: bool = False, name: str | None = None) -> str:
        name = name or unique(prefix)
        with self.admin() as a:
            ok(a.post("/projects", json={"name": name, "public": public}), 201)
        return name

    def member(
        self, project: str, name: str, role: str, repositories: list[str] | None = None
    ) -> dict[str, Any]:
        body = {"kind": "user", "name": name, "role": role, "repositories": repositories}
        with self.admin() as a:
            return ok(a.post(f"/projects/{project}/members", json=body), 201)  # type: ignore[no-any-return]

    def robot(
        self, project: str | None, permissions: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        path = f"/projects/{project}/robots" if project else "/robots"
        body = {"name": unique("r"), "permissions": permissions, **extra}
        with self.admin() as a:
            return ok(a.post(path, json=body), 201)  # type: ignore[no-any-return]

    def registry(self, credentials: tuple[str, str] | None = None) -> httpx.Client:
        """A /v2/ client that authenticates as docker does (token auth)."""
        return self.server.client(credentials or self.server.admin)

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement (`?` placeholders) for each row, straight into the metadata
        database, in one transaction: thousands of rows in a blink where the API would
        take minutes. Datetimes are stored as the server's SQLAlchemy stores them."""
        if self.database_url is None:

            def cell(value: Any) -> Any:  # SQLite: naive UTC text with microseconds
                if isinstance(value, dt.datetime):
                    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                return value

            db = sqlite3.connect(self.server.data_dir / "dockyard.db", timeout=30)
            with db:
                db.executemany(sql, [tuple(cell(v) for v in row) for row in rows])
            db.close()
            return
        numbered = sql.split("?")
        pg_sql = numbered[0] + "".join(f"${i}{part}" for i, part in enumerate(numbered[1:], 1))

        async def run(url: str) -> None:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(url)
            try:
                async with conn.transaction():
                    await conn.executemany(pg_sql, rows)
            finally:
                await conn.close()

        asyncio.run(run(self.database_url))

    def expire_robot(self, name: str) -> None:
        """Move a robot's expiry into the past, as time passing would."""
        when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        if self.database_url is None:
            db = sqlite3.connect(self.server.data_dir / "dockyard.db")
            with db:
                db.execute(
                    "UPDATE robots SET expires_at = ? WHERE name = ?", (when.isoformat(" "), name)
                )
            db.close()
            return

        async def update(url: str) -> None:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(url)
            try:
                await conn.execute("UPDATE robots SET expires_at = $1 WHERE name = $2", when, name)
            finally:
                await conn.close()

        asyncio.run(update(self.database_url))


@pytest.fixture(scope="package", params=["embedded", "production"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    base: Path = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "embedded":
        with run_server(base / "data", env=ENV) as srv:
            yield Registry(srv, None)
        return
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        env = {**production_env(s3, s3.create_bucket(), database_url), **ENV}
        migrate(env, base / "data")
        with run_server(base / "data", env=env) as srv:
            yield Registry(srv, database_url)
