"""`POST /api/v1/gc` starts a pass (a `gc.run` job); `GET /api/v1/gc` shows the last
passes' reports. System administrators only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.routing import PREFIX
from dockyard.lifecycle.gc.service import MAX_RUNS, GcService

router = APIRouter(prefix=PREFIX, tags=["gc"])


class GcStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    dry_run: bool = Field(False, description="report what would go, delete nothing")
    grace_seconds: float | None = Field(
        None, ge=0, le=10 * 365 * 86400, description="default: the gc.grace_seconds setting"
    )
    delete_untagged: bool | None = Field(
        None, description="default: the gc.delete_untagged setting"
    )


class GcStarted(BaseModel):
    job_id: int = Field(description="the gc.run job (GET /api/v1/jobs/{job_id})")


class GcRunOut(BaseModel):
    id: int
    state: str = Field(examples=["succeeded"], description="running, succeeded or failed")
    trigger: str = Field(examples=["schedule"], description="schedule, api or cli")
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    options: dict[str, Any]
    report: dict[str, Any] | None = Field(
        description="manifests, links, blobs, uploads removed (or that would be), "
        "bytes_freed, a few digests of each (samples), seconds"
    )
    error: str | None


@router.post("/gc", status_code=202, responses=errors(400, 401, 403, 422))
async def start_gc(c: Ctx, body: GcStart | None = None) -> GcStarted:
    """Start a garbage-collection pass on the job queue (one at a time: while a pass
    is queued, starting another returns its job)."""
    body = body or GcStart()
    job_id = await GcService(c.services).start(
        c.actor,
        dry_run=body.dry_run,
        grace_seconds=body.grace_seconds,
        delete_untagged=body.delete_untagged,
    )
    return GcStarted(job_id=job_id)


@router.get("/gc", responses=errors(401, 403, 422))
async def list_gc_runs(
    c: Ctx, limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 10
) -> list[GcRunOut]:
    """The last garbage-collection passes, newest first, with their reports."""
    runs = await GcService(c.services).runs(c.actor, limit)
    return [
        GcRunOut(
            id=run.id,
            state=run.state,
            trigger=run.trigger,
            dry_run=run.dry_run,
            started_at=run.started_at,
            finished_at=run.finished_at,
            options=dict(run.options),
            report=dict(run.report) if run.report is not None else None,
            error=run.error,
        )
        for run in runs
    ]
