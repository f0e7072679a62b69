"""The long-lived parent process of `dockyard serve`.

`dockyard serve` validates config and migrates the database, then execs this
module, so the parent that merely supervises the workers does not keep the
CLI, pydantic, SQLAlchemy and Alembic in memory: it imports granian and the
standard library only. Settings arrive already validated, as JSON, in the
environment; the workers read the same variable.
"""

from __future__ import annotations

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


def metrics_dir(workers: int) -> str | None:
    """With several workers, a fresh, empty directory for their shared metric files
    (see dockyard.metrics), this server's own; removed when the server exits."""
    if workers < 2:
        os.environ.pop(METRICS_DIR_ENV, None)
        return None
    path = tempfile.mkdtemp(prefix=f"dockyard-metrics-{os.getpid()}-")
    os.environ[METRICS_DIR_ENV] = path
    return path


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
