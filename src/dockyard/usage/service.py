"""The dedup report with its cache: one computation serves the API and the metrics
for `usage.cache_seconds`; concurrent askers share one computation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dockyard.accounts.guard import Actor
from dockyard.usage.report import Report, Usage, compute
from dockyard.usage.settings import UsageSettings

NAME = "usage"


class UsageService:
    def __init__(self, services: Any) -> None:
        self._services = services
        found = services.settings.section(NAME)
        self.settings = found if isinstance(found, UsageSettings) else UsageSettings()
        self._report: Report | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def report(self, *, fresh: bool = False) -> Report:
        async with self._lock:
            age = time.monotonic() - self._at
            if fresh or self._report is None or age > self.settings.cache_seconds:
                self._report = await compute(self._services.store)
                self._at = time.monotonic()
            return self._report

    async def system(self, actor: Actor, *, fresh: bool = False) -> Report:
        self._services.guard.admin(actor, "read the storage report")
        return await self.report(fresh=fresh)

    async def project(self, actor: Actor, name: str, *, fresh: bool = False) -> Usage:
        """A project's usage, for whoever may see the project."""
        await self._services.guard.project(actor, name, None)
        found = (await self.report(fresh=fresh)).projects.get(name)
        if found is None:  # a project with nothing pushed yet
            return Usage(0, 0, 0, 0)
        return found


def usage_of(services: Any) -> UsageService:
    found = services.extensions.get(NAME)
    if not isinstance(found, UsageService):
        found = services.extensions[NAME] = UsageService(services)
    return found
