"""Registry endpoints through a real `dockyard serve`: embedded (SQLite, the key
generated into the data directory) and production (PostgreSQL + S3 + Redis, the key
from the configuration; without one a secret is refused). The secret is never
returned and is not in the database in the clear; ping against the Go registry with
htpasswd (good and bad credentials, unreachable); validation refusals; the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from dockyard.remote.keys import NoSecretKey, Sealer, SecretUnreadable
from tests.support.go_registry import GoRegistry, go_registry
from tests.support.server import RunningServer, free_port, run_server

PASSWORD = "pl41ntext-registry-password"
KEY = Fernet.generate_key().decode()


@dataclass
class Deployment:
    kind: str
    server: RunningServer
    database_url: str | None
    """PostgreSQL's, in production"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoRegistry]:
    with go_registry(tmp_path_factory.mktemp("go-up"), htpasswd=("bob", PASSWORD)) as registry:
        yield registry


@pytest.fixture(scope="module", params=["embedded", "production"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp(f"registries-{request.param}")
    if request.param == "embedded":
        with run_server(base / "data", workers=1) as server:
            yield Deployment("embedded", server, None)
        return
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        env = {
            **production_env(s3, s3.create_bucket(), database_url),
            "DOCKYARD__REGISTRIES__SECRET_KEY": KEY,
        }
        migrate(env, base / "data")
        with run_server(base / "data", env=env, workers=1) as server:
            yield Deployment("production", server, database_url)


def _api(server: RunningServer, auth: tuple[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/api/v1", auth=auth or server.admin, timeout=30.0)


def _sealed_values(d: Deployment, name: str) -> list[str]:
    """Every column of the endpoint's row, read from the database directly."""
    if d.database_url is None:
        with sqlite3.connect(d.server.data_dir / "dockyard.db") as conn:
            row = conn.execute(
                "SELECT * FROM registry_endpoints WHERE name = ?", (name,)
            ).fetchone()
        return [str(v) for v in row]
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def read() -> list[str]:
        url = d.database_url or ""
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            row = await conn.fetchrow("SELECT * FROM registry_endpoints WHERE name = $1", name)
        finally:
            await conn.close()
        return [str(v) for v in row.values()]

    return asyncio.run(read())


def test_secret_write_only_and_encrypted(deployment: Deployment, upstream: GoRegistry) -> None:
    server = deployment.server
    with _api(server) as api:
        created = api.post(
            "/registries",
            json={
                "name": "up-secret",
                "url": upstream.url,
                "username": "bob",
                "password": PASSWORD,
            },
        )
        assert created.status_code == 201, created.text
        for answer in (created, api.get("/registries"), api.get("/registries/up-secret")):
            assert PASSWORD not in answer.text
        body = created.json()
        assert body["has_secret"] is True and "password" not in body and "secret" not in body
        row = _sealed_values(deployment, "up-secret")
        assert not any(PASSWORD in value for value in row)
        assert any(value.startswith("gAAAA") for value in row)  # a Fernet token
        audit = api.get("/audit-logs", params={"size": 100}).text
        assert "registry.create" in audit and PASSWORD not in audit
    if deployment.kind == "embedded":
        key_file = server.data_dir / "registries.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_ping(deployment: Deployment, upstream: GoRegistry) -> None:
    with _api(deployment.server) as api:
        api.post(
            "/registries",
            json={"name": "up-ping", "url": upstream.url, "username": "bob", "password": PASSWORD},
        ).raise_for_status()
        good = api.post("/registries/up-ping/ping").json()
        assert good["reachable"] is True and good["status"] == 200, good
        rekeyed = api.post("/registries/-/rekey")
        assert rekeyed.status_code == 200 and rekeyed.json()["reencrypted"] >= 1, rekeyed.text
        assert api.post("/registries/up-ping/ping").json()["status"] == 200
        changed = api.patch("/registries/up-ping", json={"password": "not-it"})
        assert changed.status_code == 200 and changed.json()["has_secret"] is True
        bad = api.post("/registries/up-ping/ping").json()
        assert bad["reachable"] is True and bad["status"] == 401, bad
        # an endpoint nobody listens on
        gone = f"http://127.0.0.1:{free_port()}"
        api.post("/registries", json={"name": "gone", "url": gone}).raise_for_status()
        down = api.post("/registries/gone/ping").json()
        assert down["reachable"] is False and down["status"] is None and "gone" in down["message"]
        assert (
            api.patch("/registries/up-ping", json={"password": None}).json()["has_secret"] is False
        )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "p", "url": "https://example.org/v2"},
        {"name": "p", "url": "https://user:pw@example.org"},
        {"name": "p", "url": "ftp://example.org"},
        {"name": "p", "url": "https://example.org?x=1"},
        {"name": "p", "url": "https://"},
        {"name": "Bad Name", "url": "https://example.org"},
        {"name": "p", "url": "https://example.org", "kind": "artifactory"},
        {"name": "p", "url": "https://example.org", "insecure": "yes"},
        {"name": "p", "url": "https://example.org", "ca_certificate": "not a certificate"},
        {"name": "p", "url": "https://example.org", "password": "a\nb"},
        {"name": "p", "url": "https://example.org", "extra": 1},
    ],
)
def test_validation_refusals(deployment: Deployment, body: dict[str, object]) -> None:
    with _api(deployment.server) as api:
        answer = api.post("/registries", json=body)
        assert answer.status_code == 422, answer.text
        assert api.get("/registries/p").status_code == 404


def test_conflicts_and_access(deployment: Deployment) -> None:
    server = deployment.server
    with _api(server) as api:
        api.post(
            "/registries", json={"name": "dup", "url": "https://example.org"}
        ).raise_for_status()
        again = api.post("/registries", json={"name": "dup", "url": "https://example.com"})
        assert again.status_code == 409
        assert api.get("/registries/dup").json()["url"] == "https://example.org"
        assert api.get("/registries/nope").status_code == 404
        assert api.delete("/registries/dup").status_code == 204
        assert api.delete("/registries/dup").status_code == 404
        anonymous = httpx.get(server.url + "/api/v1/registries")
        assert anonymous.status_code == 401
        api.post(
            "/users",
            json={"username": "plain", "password": "plain-password-1", "email": "p@example.org"},
        )
    with _api(server, ("plain", "plain-password-1")) as plain:
        assert plain.get("/registries").status_code == 403
        assert (
            plain.post("/registries", json={"name": "x", "url": "https://example.org"}).status_code
            == 403
        )


def _cli(
    server: RunningServer, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    user, password = server.admin
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "registry", *args, "--url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**os.environ, "DOCKYARD_USERNAME": user, "DOCKYARD_PASSWORD": password},
    )


def test_cli(deployment: Deployment, upstream: GoRegistry) -> None:
    if deployment.kind != "embedded":
        pytest.skip("the CLI speaks to the API, the same in both topologies")
    server = deployment.server
    added = _cli(
        server,
        "add",
        "cli-up",
        upstream.url,
        "--remote-username",
        "bob",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["has_secret"] is True and PASSWORD not in added.stdout
    assert "cli-up" in _cli(server, "list").stdout
    shown = _cli(server, "show", "cli-up", "--json")
    assert json.loads(shown.stdout)["username"] == "bob" and PASSWORD not in shown.stdout
    assert _cli(server, "ping", "cli-up").returncode == 0
    updated = _cli(server, "update", "cli-up", "--password-stdin", stdin="wrong\n")
    assert updated.returncode == 0, updated.stderr
    failed = _cli(server, "ping", "cli-up")
    assert failed.returncode == 1 and "401" in failed.stdout
    refused = _cli(server, "add", "cli-bad", "https://example.org/path")
    assert refused.returncode == 1
    assert refused.stderr.startswith("dockyard: ") and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _cli(server, "remove", "cli-up").returncode == 0
    missing = _cli(server, "show", "cli-up")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_production_without_key_refuses_a_secret(
    tmp_path: Path, s3_server: object, upstream: GoRegistry
) -> None:
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    with temporary_database_sync() as database_url:
        env = production_env(s3_server, s3_server.create_bucket(), database_url)  # type: ignore[attr-defined]
        migrate(env, tmp_path / "data")
        with run_server(tmp_path / "data", env=env, workers=1) as server, _api(server) as api:
            refused = api.post(
                "/registries",
                json={"name": "k", "url": upstream.url, "username": "bob", "password": PASSWORD},
            )
            assert refused.status_code == 409 and "secret_key" in refused.text
            assert api.get("/registries/k").status_code == 404
            # without a secret it is stored (an anonymous upstream)
            assert (
                api.post("/registries", json={"name": "k", "url": upstream.url}).status_code == 201
            )
        assert not (tmp_path / "data" / "registries.key").exists()


def test_keys_rotate_and_fail_clearly(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Sealer([old]).seal("s3cret")
    with pytest.raises(SecretUnreadable, match="'hub'"):
        Sealer([new]).open(sealed, "hub")
    both = Sealer([new, old])
    assert both.open(sealed, "hub") == "s3cret"
    rotated = both.rotate(sealed, "hub")
    assert Sealer([new]).open(rotated, "hub") == "s3cret"
    with pytest.raises(NoSecretKey):
        Sealer.from_settings(None, "postgresql://x/y", tmp_path).seal("s3cret")
    generated = Sealer.from_settings(None, f"sqlite:///{tmp_path}/d.db", tmp_path)
    again = Sealer.from_settings(None, f"sqlite:///{tmp_path}/d.db", tmp_path)
    assert again.open(generated.seal("s3cret"), "hub") == "s3cret"
    # a configured key keeps opening what the generated file's key sealed
    configured = Sealer.from_settings(new, f"sqlite:///{tmp_path}/d.db", tmp_path)
    assert configured.open(generated.seal("s3cret"), "hub") == "s3cret"
