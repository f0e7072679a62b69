"""Tiering for the API, the CLI, the job and /metrics: the rules (project
administrators set their project's; members read it), the status (bytes per tier,
administrators), and the pass (a job)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from dockyard.accounts.guard import Actor
from dockyard.auth import permissions as perm
from dockyard.errors import Conflict, NotFound
from dockyard.metadata.engine import HasEngines
from dockyard.storage.tiered import TieredDriver
from dockyard.tiering.mover import Mover, Pass
from dockyard.tiering.settings import TieringSettings
from dockyard.tiering.store import Rule, TieringStore, Totals

NAME = "tiering"
RUN = "tiering.run"
TOTALS_SECONDS = 15.0
"""the totals behind /metrics are reused this long (two sums over the blob tables)"""


def describe(settings: TieringSettings) -> str | None:
    """Where the cold tier is, for people (no credentials)."""
    cold = settings.cold
    if cold is None:
        return None
    if cold.driver == "s3":
        where = f"s3://{cold.bucket}/{cold.prefix}".rstrip("/")
        return where + (f" ({cold.storage_class})" if cold.storage_class else "")
    if cold.driver == "filesystem":
        return str(cold.root) if cold.root is not None else "<data_dir>/cold"
    return cold.driver


class TieringService:
    def __init__(self, services: Any) -> None:
        self._s = services
        found = services.settings.section(NAME)
        self.settings = found if isinstance(found, TieringSettings) else TieringSettings()
        self.store = TieringStore(cast(HasEngines, services.store))
        self._totals: Totals | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    @property
    def driver(self) -> TieredDriver | None:
        storage = self._s.storage
        return storage if isinstance(storage, TieredDriver) else None

    async def totals(self, *, fresh: bool = False) -> Totals:
        async with self._lock:
            if fresh or self._totals is None or time.monotonic() - self._at > TOTALS_SECONDS:
                self._totals = await self.store.totals()
                self._at = time.monotonic()
            return self._totals

    # -- administrators ------------------------------------------------------------

    async def status(self, actor: Actor) -> dict[str, Any]:
        self._s.guard.admin(actor, "read the tiering status")
        totals = await self.totals(fresh=True)
        driver = self.driver
        return {
            "enabled": driver is not None,
            "mode": self.settings.mode,
            "cold_location": describe(self.settings),
            "default_cold_after_days": self.settings.default_cold_after_days,
            "min_blob_bytes": self.settings.min_blob_bytes,
            "schedule": self.settings.schedule,
            "rules": len(await self.store.rules()),
            "hot": {"blobs": totals.hot_blobs, "bytes": totals.hot_bytes},
            "cold": {"blobs": totals.cold_blobs, "bytes": totals.cold_bytes},
        }

    async def rules(self, actor: Actor) -> list[Rule]:
        self._s.guard.admin(actor, "list the tiering rules")
        return await self.store.rules()

    async def enqueue(self, actor: Actor) -> int:
        self._s.guard.admin(actor, "run tiering")
        if self.driver is None:
            raise Conflict("tiering is not configured: set tiering.cold (docs/operations.md)")
        job_id: int = await self._s.jobs.enqueue(RUN, {}, dedup_key=RUN)
        await self._s.guard.record(actor, "tiering.run", "tiering", detail={"job": job_id})
        return job_id

    # -- a project's rule ------------------------------------------------------------

    async def _project(self, actor: Actor, project: str, action: str) -> int:
        found: int = (await self._s.guard.project(actor, project, action)).id
        return found

    async def rule(self, actor: Actor, project: str) -> Rule | None:
        pid = await self._project(actor, project, perm.READ_PROJECT)
        return await self.store.rule(pid, project)

    async def put_rule(self, actor: Actor, project: str, days: int) -> Rule:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        rule = await self.store.put_rule(pid, project, days, actor.name)
        await self._s.guard.record(
            actor, "tiering.update", project, project=project, detail={"cold_after_days": days}
        )
        return rule

    async def delete_rule(self, actor: Actor, project: str) -> None:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        if not await self.store.delete_rule(pid):
            raise NotFound(f"project {project!r} has no tiering rule")
        await self._s.guard.record(actor, "tiering.delete", project, project=project)

    # -- the job ------------------------------------------------------------------------

    async def run_pass(self, say: Callable[[str], Awaitable[None]] | None = None) -> Pass:
        driver = self.driver
        if driver is None:
            raise Conflict("tiering is not configured: set tiering.cold")
        return await Mover(driver, self.store, self.settings, say).run()


def tiering_of(services: Any) -> TieringService:
    found = services.extensions.get(NAME)
    if not isinstance(found, TieringService):
        found = services.extensions[NAME] = TieringService(services)
    return found
