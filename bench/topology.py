"""The production topology for the benchmark: both registries on one S3 server.

One moto S3 server (tests/support/s3server.py) runs for the whole run, with one
bucket per registry. Dockyard gets a fresh PostgreSQL database (migrated with
`dockyard migrate`), that S3 server and Redis under a key prefix of its own; the Go
registry gets the same S3 server through its `storage.s3` driver. Everything is on
127.0.0.1 and is torn down at the end: the S3 server stopped by its PID (its own
process group), the database dropped, this run's Redis keys deleted.

tests/support is plain Python (no pytest), imported with the repository root put on
sys.path, since `bench/run.py` runs as a script from bench/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credentials import Credentials
from servers import MIB, Server, dockyard_server, go_server

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from tests.support.postgres import temporary_database_sync  # noqa: E402
from tests.support.production import REDIS_URL, production_env  # noqa: E402
from tests.support.s3server import S3Server, run_s3_server  # noqa: E402

TOPOLOGIES = ("embedded", "production")
ROOT = "registry"  # Go's rootdirectory; Dockyard's prefix (production_env) is the same

GO_S3_STORAGE = """\
  s3:
    accesskey: {access_key}
    secretkey: {secret_key}
    region: {region}
    regionendpoint: {endpoint}
    bucket: {bucket}
    forcepathstyle: true
    secure: false
    v4auth: true
    chunksize: {chunksize}
    rootdirectory: /{root}
  redirect:
    disable: {disable}"""


@dataclass
class Production:
    """The running backends of one production-topology run."""

    s3: S3Server
    go_bucket: str
    dockyard_bucket: str
    database_url: str
    redis_prefix: str
    go_chunksize: int
    credentials: Credentials | None = None  # Dockyard's administrator (None: no auth)

    @property
    def s3_hostport(self) -> tuple[str, int]:
        return self.s3.host, self.s3.port

    def dockyard_env(self, redirect: bool) -> dict[str, str]:
        """DOCKYARD_DATABASE_URL / _STORAGE_URL (prefix `registry`, `redirect=` as
        given) / _REDIS_URL, this run's Redis key prefix and the AWS_* variables."""
        env: dict[str, str] = production_env(
            self.s3, self.dockyard_bucket, self.database_url, redirect=redirect
        )
        env["DOCKYARD__REDIS__KEY_PREFIX"] = self.redis_prefix
        return env

    def go_storage(self, redirect: bool) -> str:
        return GO_S3_STORAGE.format(
            access_key=self.s3.access_key_id,
            secret_key=self.s3.secret_access_key,
            region=self.s3.region,
            endpoint=self.s3.endpoint,
            bucket=self.go_bucket,
            chunksize=self.go_chunksize,
            root=ROOT,
            disable="false" if redirect else "true",
        )

    def servers(
        self,
        workdir: Path,
        go_binary: str,
        dockyard_cmd: str,
        *,
        redirect: bool,
        go: bool = True,
        dockyard: bool = True,
    ) -> list[Server]:
        """Server objects (not started) for one phase: redirects on or off."""
        tag = "-redirect" if redirect else ""
        out: list[Server] = []
        if go:
            out.append(go_server(workdir, go_binary, self.go_storage(redirect), tag))
        if dockyard:
            out.append(
                dockyard_server(
                    workdir, dockyard_cmd, self.dockyard_env(redirect), tag, self.credentials
                )
            )
        return out

    def describe(self) -> dict[str, Any]:
        """For the JSON record (no secrets: the S3 keys are moto's fixed test keys)."""
        return {
            "s3_endpoint": self.s3.endpoint,
            "s3_server": "moto (python -m moto.server), one process shared by both registries",
            "s3_pid": self.s3.process.pid,
            "go_bucket": self.go_bucket,
            "dockyard_bucket": self.dockyard_bucket,
            "root_prefix": ROOT,
            "database": self.database_url.rsplit("/", 1)[-1],
            "redis": REDIS_URL,
            "redis_key_prefix": self.redis_prefix,
            "go_s3_chunksize": self.go_chunksize,
        }


def migrate(env: dict[str, str], data_dir: Path, timeout: float = 120.0) -> None:
    """`dockyard migrate` on the fresh database; its output goes into the error."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", "migrate", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"dockyard migrate exited with {proc.returncode}:\n{tail}")


def delete_redis_keys(prefix: str, limit: int = 1_000_000) -> int:
    """Delete this run's keys (SCAN, bounded); return how many went."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    deleted = 0
    try:
        batch: list[bytes] = []
        for n, key in enumerate(client.scan_iter(match=f"{prefix}*", count=1000)):
            if n >= limit:
                break
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted


@contextmanager
def production_backends(
    workdir: Path,
    log: Callable[[str], None],
    go_chunksize: int = 16 * MIB,
    credentials: Credentials | None = None,
) -> Iterator[Production]:
    """Start the S3 server, make the buckets, the database and the Redis prefix; undo
    all of it on the way out (errors and Ctrl-C included). Dockyard's servers get
    `credentials` (its administrator is created on the first one's start)."""
    with ExitStack() as stack:
        log("starting the S3 server (moto)")
        s3 = stack.enter_context(run_s3_server(workdir))
        log(f"S3 server on {s3.endpoint} (pid {s3.process.pid}); making buckets")
        go_bucket = s3.create_bucket(f"bench-go-{uuid.uuid4().hex[:8]}")
        dockyard_bucket = s3.create_bucket(f"bench-dockyard-{uuid.uuid4().hex[:8]}")
        database_url = stack.enter_context(temporary_database_sync("dockyard_bench"))
        prod = Production(
            s3=s3,
            go_bucket=go_bucket,
            dockyard_bucket=dockyard_bucket,
            database_url=database_url,
            redis_prefix=f"dockyard-bench-{uuid.uuid4().hex[:8]}:",
            go_chunksize=go_chunksize,
            credentials=credentials,
        )

        def cleanup_redis() -> None:
            with suppress(Exception):  # best effort: Redis may be gone by now
                n = delete_redis_keys(prod.redis_prefix)
                log(f"deleted {n} Redis key(s) under {prod.redis_prefix}")

        stack.callback(cleanup_redis)
        log(f"database {database_url.rsplit('/', 1)[-1]}: dockyard migrate")
        migrate(prod.dockyard_env(redirect=False), workdir / "migrate")
        stack.callback(log, "stopping the S3 server, dropping the database")
        yield prod
