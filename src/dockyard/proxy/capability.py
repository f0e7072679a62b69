"""The proxy cache capability, as the core sees it (dockyard.capabilities): settings,
tables (Alembic branch "proxy"), API routes, the command group, the eviction job and
its schedule, and the pull source (registry/sources.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.jobs import JobKind, Schedule
from dockyard.proxy.jobs import EVICT, EVICT_CRON, evict_job
from dockyard.proxy.settings import ProxySettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability
    from dockyard.registry.sources import PullSource

NAME = "proxy"
MIGRATIONS = Path(__file__).with_name("migrations")


def _sources(services: Any) -> Sequence[PullSource]:
    from dockyard.proxy.eviction import evict
    from dockyard.proxy.source import ProxySource

    settings = services.settings.section(NAME)
    source = ProxySource(services, settings)

    async def after_fill(config: Any) -> None:
        if config.size_limit_bytes:
            await evict(services, config)

    source.after_fill = after_fill
    services.extensions[NAME] = source
    with contextlib.suppress(RuntimeError):  # no running loop: read on first use
        services.extensions[NAME + ".loading"] = asyncio.get_running_loop().create_task(
            source.refresh()
        )
    return (source,)


def _router() -> APIRouter:
    from dockyard.proxy.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.proxy.cli import app

    return app


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=ProxySettings,
        router=_router,
        cli=_cli,
        migrations=MIGRATIONS,
        jobs=(JobKind(EVICT, evict_job, max_attempts=3, backoff_seconds=30.0),),
        schedules=(Schedule(EVICT, EVICT_CRON, EVICT),),
        pull_sources=_sources,
    )
