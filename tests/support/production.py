"""The production topology on one machine: N `dockyard serve` replicas sharing one
PostgreSQL database, one S3 bucket (a real S3-speaking server) and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import temporary_database_sync
from tests.support.registry_auth import RegistryAuth
from tests.support.s3server import S3Server
from tests.support.server import RunningServer, run_server

REDIS_URL = os.environ.get("DOCKYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass
class Deployment:
    env: dict[str, str]
    bucket: str
    database_url: str
    replicas: list[RunningServer]
    s3: S3Server

    def auth(self) -> RegistryAuth:
        """Token auth valid on every replica (they share the signing key)."""
        first, *rest = self.replicas
        return first.auth(also=tuple(r.url for r in rest))


def production_env(
    s3: S3Server, bucket: str, database_url: str, **storage: str | bool
) -> dict[str, str]:
    return {
        **s3.aws_env(),
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_STORAGE_URL": s3.storage_url(bucket, "registry", **storage),
        "DOCKYARD_REDIS_URL": REDIS_URL,
        # one Redis serves every test deployment: keep their keys apart
        "DOCKYARD__REDIS__KEY_PREFIX": f"dockyard-test-{uuid.uuid4().hex[:8]}:",
    }


def migrate(env: dict[str, str], data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "dockyard", "migrate", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def deployment(
    s3: S3Server, base: Path, replicas: int = 3, workers: int = 1, **storage: str | bool
) -> Iterator[Deployment]:
    """Start `replicas` servers over fresh backends; tear everything down afterwards."""
    with temporary_database_sync() as database_url, ExitStack() as stack:
        bucket = s3.create_bucket()
        env = production_env(s3, bucket, database_url, **storage)
        migrate(env, base / "migrate")
        servers = [
            stack.enter_context(run_server(base / f"replica-{i}", workers=workers, env=env))
            for i in range(replicas)
        ]
        yield Deployment(env, bucket, database_url, servers, s3)
