"""Fixtures of the GC and fsck tests against real servers: a registry of the test's
own in each topology (GC must not sweep what other tests hold), how to run
`dockyard gc` / `dockyard fsck` against its store, and direct access to its store."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.production import deployment
from tests.support.s3server import S3Server
from tests.support.server import RunningServer, run_server


@dataclass
class Store:
    kind: str
    servers: list[RunningServer]
    env: dict[str, str]
    data_dir: Path
    database_url: str
    keys: Callable[[str], list[str]]
    """storage keys under a prefix (relative to the store's root)"""
    write: Callable[[str, bytes | None], None]
    """put bytes at a storage key (None: delete it), behind the registry's back"""

    @property
    def server(self) -> RunningServer:
        return self.servers[0]

    def client(self, i: int = 0) -> httpx.Client:
        """A client of replica `i` (tokens from the first are good on every replica)."""
        first = self.servers[0]
        auth = first.auth(also=tuple(s.url for s in self.servers[1:]))
        return httpx.Client(base_url=self.servers[i % len(self.servers)].url, auth=auth, timeout=60)

    def sql(self, statement: str, **params: Any) -> Any:
        """Run one statement on the store's database (to age rows, or to damage them)."""
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        from dockyard.metadata.engine import async_url

        async def go() -> Any:
            engine = create_async_engine(async_url(self.database_url))
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return result.all() if result.returns_rows else result.rowcount
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def age(self, hours: float = 2) -> None:
        """Make everything stored so far look `hours` old (what a grace period sees)."""
        at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
        self.sql("UPDATE blobs SET touched_at = :at", at=at)
        self.sql("UPDATE repository_blobs SET touched_at = :at", at=at)
        self.sql("UPDATE manifests SET created_at = :at", at=at)

    def command(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args, "--data-dir", str(self.data_dir)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "dockyard", *args, "--data-dir", str(self.data_dir)],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def gc(self, *args: str) -> dict[str, Any]:
        done = self.command("gc", "--json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def fsck(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.command("fsck", "--json", *args)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(params=["embedded", "production"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    base: Path = tmp_path_factory.mktemp(f"gc-{request.param}")
    if request.param == "embedded":
        data = base / "data"
        with run_server(data) as srv:

            def local_keys(prefix: str) -> list[str]:
                root = data / "storage"
                return sorted(
                    str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file()
                )

            def local_write(key: str, content: bytes | None) -> None:
                path = data / "storage" / key
                if content is None:
                    path.unlink()
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)

            yield Store(
                "embedded",
                [srv],
                {},
                data,
                f"sqlite:///{data / 'dockyard.db'}",
                local_keys,
                local_write,
            )
        return
    s3: S3Server = request.getfixturevalue("s3_server")
    with deployment(s3, base, replicas=3) as d:

        def s3_keys(prefix: str) -> list[str]:
            return sorted(k[len("registry/") :] for k in s3.keys(d.bucket, f"registry/{prefix}"))

        def s3_write(key: str, content: bytes | None) -> None:
            client = s3.client()
            if content is None:
                client.delete_object(Bucket=d.bucket, Key=f"registry/{key}")
            else:
                client.put_object(Bucket=d.bucket, Key=f"registry/{key}", Body=content)

        yield Store(
            "production", d.replicas, d.env, base / "cli", d.database_url, s3_keys, s3_write
        )


# the retention, immutability and pull-statistics tests' server and clients
from tests.lifecycle.retention_support import (  # noqa: E402
    admin_api,
    lifecycle_server,
    skopeo,
)

__all__ = ["Store", "admin_api", "lifecycle_server", "skopeo", "store"]
