"""`dockyard worker`: the background worker as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from dockyard.background import build_worker, prepare
from dockyard.capabilities import REGISTERED
from dockyard.config import Settings
from dockyard.services import build_services

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, once: bool = False) -> int:
    """Run until SIGTERM or SIGINT (or, with `once`, until nothing is due); the number
    of jobs run with `once`."""
    services = await build_services(settings, None, REGISTERED)
    try:
        worker, relay, schedules = build_worker(services, REGISTERED)
        await prepare(services, relay, schedules)
        if once:
            return await worker.run_once()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        worker.start()
        log.info("worker %s started (%s at once)", worker.holder, worker.concurrency)
        await stop.wait()
        log.info("worker stopping: running jobs get 10 s, then go back to the queue")
        await worker.stop()
        return 0
    finally:
        await services.close()
