"""create_app(settings) -> ASGI app. Everything is built in the lifespan; no module state."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard import __version__
from dockyard.auth.audit import AuditLog, housekeeping
from dockyard.background import start_worker
from dockyard.capabilities import REGISTERED, Capability
from dockyard.config import Settings, load_settings
from dockyard.context import Services
from dockyard.http.dispatch import handle_http
from dockyard.http.v2.blobsend import StreamSlots
from dockyard.jobs.worker import Worker
from dockyard.metrics import Metrics, multiprocess_dir
from dockyard.registry.janitor import run_periodically
from dockyard.services import build_services
from dockyard.supervisor import SETTINGS_ENV

log = logging.getLogger(__name__)


class DockyardApp:
    def __init__(self, settings: Settings, capabilities: Sequence[Capability] = REGISTERED) -> None:
        self.settings = settings
        self.capabilities = tuple(capabilities)
        self.access_log = settings.server.access_log
        self.stream_slots = StreamSlots(settings.server.stream_slots)
        self.metrics = Metrics(__version__, multiprocess_dir())
        self.observe_request = self.metrics.http.observe  # one lookup on the hot path
        self._services: Services | None = None
        self._janitor: asyncio.Task[None] | None = None
        self.worker: Worker | None = None

    @functools.cached_property
    def api(self) -> ASGIApp:
        """The management API (FastAPI), built on first use: /v2/ traffic never pays for it."""
        from dockyard.http.api.app import ApiEntry

        return ApiEntry(self.capabilities)

    @property
    def audit(self) -> AuditLog | None:
        return None if self._services is None else self._services.audit

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services are not started (lifespan has not run)")
        return self._services

    async def startup(self) -> None:
        self._services = svc = await build_services(self.settings, self.metrics, self.capabilities)
        self.metrics.start()
        svc.audit.start()
        svc.pulls.start()
        reg = self.settings.registry
        self._janitor = asyncio.create_task(
            run_periodically(
                svc.store,
                svc.storage,
                dt.timedelta(hours=reg.upload_max_age_hours),
                reg.upload_purge_interval_seconds,
                housekeeping=lambda: housekeeping(svc.identity.audit, self.settings.auth),
            )
        )

        if self.settings.jobs.run_in_serve:
            self.worker = await start_worker(svc, self.capabilities, self.metrics.observe_job)

    async def shutdown(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        await self.metrics.stop()
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self._services is not None:
            await self._services.pulls.stop()
            await self._services.audit.stop()
            await self._services.close()
            self._services = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await handle_http(self, scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)


def create_app(
    settings: Settings | None = None, capabilities: Sequence[Capability] = REGISTERED
) -> DockyardApp:
    return DockyardApp(settings or load_settings(), capabilities)


def worker_app() -> DockyardApp:
    """Factory the server's worker processes call, with the parent's config sources."""
    raw = os.environ.get(SETTINGS_ENV)
    if raw:
        spec = json.loads(raw)
        config = Path(spec["config"]) if spec.get("config") else None
        settings = load_settings(config, spec.get("overrides") or {})
    else:
        settings = load_settings()
    from dockyard.logs import configure

    configure(settings.server.log_level, settings.server.log_format)
    return DockyardApp(settings)
