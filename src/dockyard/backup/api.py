"""`/api/v1/backups` (administrators): the snapshots at the configured destination
(`backup.destination`), newest first, and a backup now as a job (`backup.run`). Restores
stay on the command line: they rebuild an empty instance, which no running server is."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dockyard.backup.capability import NAME, RUN
from dockyard.errors import Conflict
from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.routing import PREFIX


class Counted(BaseModel):
    count: int
    bytes: int


class SnapshotOut(BaseModel):
    id: str
    created_at: dt.datetime
    finished_at: dt.datetime
    dockyard: str = Field(description="the version that wrote it")
    dialect: str = Field(description="the database it was taken from")
    blobs: Counted = Field(description="the blobs its metadata names")
    copied: Counted = Field(description="what this snapshot copied (the rest was there)")


class BackupsOut(BaseModel):
    destination: str | None = Field(description="backup.destination; null: none configured")
    schedule: str | None
    keep: int
    snapshots: list[SnapshotOut]


class RunOut(BaseModel):
    job_id: int = Field(description="follow it with GET /api/v1/jobs/{job_id}")


def _destination(c: Ctx) -> tuple[Any, str | None]:
    settings = c.services.settings.section(NAME)
    return settings, settings.destination


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX + "/backups", tags=["backup"])

    @r.get("", responses=errors(), summary="Snapshots at the configured destination")
    async def list_backups(c: Ctx) -> BackupsOut:
        c.services.guard.admin(c.actor, "list backups")
        settings, where = _destination(c)
        found: list[dict[str, Any]] = []
        if where:
            from dockyard.backup.destination import open_destination
            from dockyard.backup.run import snapshots

            destination = open_destination(where, settings)
            try:
                found = await snapshots(destination)
            finally:
                close = getattr(destination, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()
        return BackupsOut(
            destination=where,
            schedule=settings.schedule,
            keep=settings.keep,
            snapshots=[SnapshotOut.model_validate(s) for s in reversed(found)],
        )

    @r.post(
        "",
        status_code=202,
        responses=errors(409),
        summary="Back up now, as a job, to the configured destination (409 without one)",
    )
    async def start_backup(c: Ctx) -> RunOut:
        c.services.guard.admin(c.actor, "start a backup")
        _, where = _destination(c)
        if not where:
            raise Conflict("no backup destination: set backup.destination (docs/backup.md)")
        job_id = await c.services.jobs.enqueue(RUN, {}, dedup_key=RUN)
        await c.services.guard.record(c.actor, "backup.run", where, detail={"job": job_id})
        return RunOut(job_id=job_id)

    return r
