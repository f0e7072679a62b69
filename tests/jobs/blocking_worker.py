"""A worker process for test_worker_process.py: `python -m tests.jobs.blocking_worker
DATA_DIR DATABASE_URL`. It runs job kind `test.block`, whose first attempt writes the
marker file its payload names and then hangs (to be killed with SIGKILL), and whose
later attempts succeed at once."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.background import build_worker, prepare
from dockyard.capabilities import Capability
from dockyard.config import load_settings
from dockyard.jobs import JobContext, JobKind
from dockyard.services import build_services


async def block(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    if ctx.attempt == 1:
        await asyncio.to_thread(Path(payload["marker"]).write_text, str(ctx.job_id))
        await asyncio.Event().wait()
    return {"attempt": ctx.attempt}


TEST = Capability("testblock", jobs=[JobKind("test.block", block, max_attempts=3)])


async def main(data_dir: str, database_url: str) -> None:
    settings = load_settings(
        None,
        {
            "data_dir": data_dir,
            "database": {"url": database_url},
            "jobs": {"lease_seconds": 1.0, "poll_seconds": 0.1},
        },
        [TEST],
    )
    services = await build_services(settings, None, [TEST])
    worker, relay, schedules = build_worker(services, [TEST])
    await prepare(services, relay, schedules)
    worker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
