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

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from dockyard.logs import dict_config

SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"


def main() -> None:
    server = json.loads(os.environ[SETTINGS_ENV])["server"]
    workers = server["workers"]
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
