"""Jobs and schedules (system administrators): list, show with the log, cancel,
retry; list schedules, change a schedule's cron or switch it off, run one now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dockyard.http.api.deps import Ctx, next_after
from dockyard.http.api.docs import errors, keyset
from dockyard.http.api.models import NO_CONTROL
from dockyard.http.api.routing import PREFIX
from dockyard.jobs import JobRecord, JobSort, LogLine, ScheduleRecord
from dockyard.jobs.cron import CRON_PATTERN

router = APIRouter(prefix=PREFIX, tags=["jobs"])

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a job's id")]
ScheduleName = Annotated[
    str, Path(min_length=1, max_length=128, pattern=NO_CONTROL, description="a schedule")
]


class Job(BaseModel):
    id: int
    kind: str = Field(examples=["gc.run"])
    state: State
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    dedup_key: str | None
    schedule: str | None = Field(description="the schedule that enqueued it, if one did")
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None = Field(description="who holds it while it runs")
    lease_until: datetime | None
    cancel_requested: bool
    last_error: str | None
    result: dict[str, Any] | None


class JobLogLine(BaseModel):
    at: datetime
    attempt: int
    message: str


class JobDetail(Job):
    log: list[JobLogLine]


class Schedule(BaseModel):
    name: str
    cron: str = Field(examples=["0 3 * * *"], description="five fields, UTC")
    kind: str
    payload: dict[str, Any]
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: int | None


Cron = Annotated[str, StringConstraints(min_length=9, max_length=128, pattern=CRON_PATTERN)]


class ScheduleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    cron: Cron | None = Field(None, examples=["30 2 * * *"])
    enabled: bool | None = None


def job_out(job: JobRecord) -> Job:
    return Job(
        id=job.id,
        kind=job.kind,
        state=job.state,
        payload=dict(job.payload),
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        dedup_key=job.dedup_key,
        schedule=job.schedule,
        run_after=job.run_after,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        worker=job.lease_holder,
        lease_until=job.lease_until,
        cancel_requested=job.cancel_requested,
        last_error=job.last_error,
        result=dict(job.result) if job.result is not None else None,
    )


def detail_out(job: JobRecord, log: list[LogLine]) -> JobDetail:
    lines = [JobLogLine(at=x.at, attempt=x.attempt, message=x.message) for x in log]
    return JobDetail(**job_out(job).model_dump(), log=lines)


def schedule_out(s: ScheduleRecord) -> Schedule:
    return Schedule(
        name=s.name,
        cron=s.cron,
        kind=s.kind,
        payload=dict(s.payload),
        enabled=s.enabled,
        next_run_at=s.next_run_at,
        last_run_at=s.last_run_at,
        last_job_id=s.last_job_id,
    )


@router.get("/jobs", responses=keyset(401, 403, 422))
async def list_jobs(
    c: Ctx,
    request: Request,
    response: Response,
    state: Annotated[State | None, Query(description="only jobs in this state")] = None,
    kind: Annotated[
        str | None, Query(max_length=128, pattern=NO_CONTROL, description="only this kind")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="page: ids below this one")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="page: ids above this one")
    ] = None,
    sort: Annotated[
        JobSort,
        Query(description="`-created` newest first (the default), `created` oldest first"),
    ] = "-created",
) -> list[Job]:
    """Jobs, newest first (or oldest first). The next page is `before` (`after` when
    oldest first) the last id of this one, as the `Link` header's `rel="next"` says
    when there is one."""
    found, more = await c.services.job_admin.find(
        c.actor, state=state, kind=kind, limit=limit, before=before, after=after, sort=sort
    )
    if more:
        bound = "after" if sort == "created" else "before"
        next_after(request, response, **{bound: found[-1].id})
    return [job_out(job) for job in found]


@router.get("/jobs/{job_id}", responses=errors(401, 403, 404))
async def get_job(c: Ctx, job_id: JobId) -> JobDetail:
    """A job with its log."""
    job, log = await c.services.job_admin.get(c.actor, job_id)
    return detail_out(job, log)


@router.post("/jobs/{job_id}/cancel", responses=errors(401, 403, 404))
async def cancel_job(c: Ctx, job_id: JobId) -> Job:
    """Cancel a queued job at once, a running one at its next checkpoint."""
    return job_out(await c.services.job_admin.cancel(c.actor, job_id))


@router.post("/jobs/{job_id}/retry", responses=errors(401, 403, 404, 409))
async def retry_job(c: Ctx, job_id: JobId) -> Job:
    """Queue a failed or cancelled job again, its attempts reset."""
    return job_out(await c.services.job_admin.retry(c.actor, job_id))


@router.get("/schedules", responses=errors(401, 403))
async def list_schedules(c: Ctx) -> list[Schedule]:
    """Every cron schedule (times in UTC)."""
    return [schedule_out(s) for s in await c.services.job_admin.schedules(c.actor)]


@router.patch("/schedules/{name}", responses=errors(401, 403, 404, 422))
async def change_schedule(c: Ctx, name: ScheduleName, body: ScheduleChange) -> Schedule:
    """Change when a schedule fires or switch it off; the change survives restarts."""
    done = await c.services.job_admin.change_schedule(
        c.actor, name, cron=body.cron, enabled=body.enabled
    )
    return schedule_out(done)


@router.post("/schedules/{name}/run", status_code=202, responses=errors(401, 403, 404))
async def run_schedule(c: Ctx, name: ScheduleName) -> Job:
    """Enqueue the schedule's job now (one at a time: a run still queued is returned)."""
    return job_out(await c.services.job_admin.run_now(c.actor, name))
