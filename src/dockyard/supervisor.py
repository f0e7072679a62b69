"""The long-lived parent process of `dockyard serve`.

`dockyard serve` validates config and migrates the database, then execs this
module, so the parent that merely supervises the workers does not keep the
CLI, pydantic, SQLAlchemy and Alembic in memory: it imports granian and the
standard library only. Settings arrive already validated, as JSON, in the
environment; the workers read the same variable.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import tempfile
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from dockyard.logs import dict_config

SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client in the workers
_METRICS_PREFIX = "dockyard-metrics-"


def metrics_dir(workers: int) -> str | None:
    """With several workers, a fresh, empty directory for their shared metric files
    (see dockyard.metrics), this server's own; removed when the server exits.

    The server holds a lock on `.lock` inside it while it lives, so directories
    left by servers that were killed (SIGKILL, OOM) are recognised by a free lock,
    whatever pid namespace they ran in, and swept here."""
    if workers < 2:
        os.environ.pop(METRICS_DIR_ENV, None)
        return None
    base = tempfile.gettempdir()
    _sweep_metrics_dirs(base)
    # set up under a name the sweep ignores, locked, then made visible
    staging = tempfile.mkdtemp(prefix=".dockyard-metrics-staging-", dir=base)
    lock = os.open(os.path.join(staging, ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # kept until this process exits
    path = os.path.join(base, f"{_METRICS_PREFIX}{os.getpid()}-{os.path.basename(staging)[-8:]}")
    os.rename(staging, path)
    os.environ[METRICS_DIR_ENV] = path
    return path


def _sweep_metrics_dirs(base: str) -> None:
    for old in glob.glob(os.path.join(base, _METRICS_PREFIX + "*")):
        try:
            fd = os.open(os.path.join(old, ".lock"), os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its server is alive
        finally:
            os.close(fd)
        shutil.rmtree(old, ignore_errors=True)


def main() -> None:
    server = json.loads(os.environ[SETTINGS_ENV])["server"]
    workers = server["workers"]
    shared = metrics_dir(workers)
    try:
        _serve(server, workers)
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def _serve(server: dict[str, Any], workers: int) -> None:
    Granian(
        target="dockyard.app:worker_app",
        factory=True,
        address=server["host"],
        port=server["port"],
        interface=Interfaces.ASGI,
        workers=workers,
        runtime_threads=server["runtime_threads"] or max(1, (os.cpu_count() or 1) // workers),
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        backlog=2048,
        log_dictconfig=dict_config(server["log_level"], server["log_format"]),
        log_access=False,
        workers_kill_timeout=server["graceful_timeout"],
        respawn_failed_workers=True,
    ).serve()


if __name__ == "__main__":
    main()
