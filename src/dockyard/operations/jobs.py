"""Jobs and schedules as operators see them: system administrators list, inspect,
cancel and retry jobs, and change or trigger schedules."""

from __future__ import annotations

from dockyard.accounts.guard import Actor, Guard
from dockyard.errors import NotFound
from dockyard.jobs import JobRecord, JobSort, JobStore, LogLine, ScheduleRecord

MAX_LIST = 200


class JobService:
    def __init__(self, jobs: JobStore, guard: Guard) -> None:
        self._jobs = jobs
        self._guard = guard

    async def find(
        self,
        actor: Actor,
        *,
        state: str | None,
        kind: str | None,
        limit: int,
        before: int | None,
        after: int | None = None,
        sort: JobSort = "-created",
    ) -> tuple[list[JobRecord], bool]:
        """A page of jobs, and whether more follow it (one more is read to know)."""
        self._guard.admin(actor, "list jobs")
        limit = min(limit, MAX_LIST)
        found = await self._jobs.find(
            state=state, kind=kind, limit=limit + 1, before=before, after=after, sort=sort
        )
        return found[:limit], len(found) > limit

    async def get(self, actor: Actor, job_id: int) -> tuple[JobRecord, list[LogLine]]:
        self._guard.admin(actor, "see jobs")
        job = await self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job, await self._jobs.log_of(job_id)

    async def cancel(self, actor: Actor, job_id: int) -> JobRecord:
        self._guard.admin(actor, "cancel jobs")
        job = await self._jobs.cancel(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        await self._guard.record(actor, "job.cancel", f"job/{job_id}", detail={"kind": job.kind})
        return job

    async def retry(self, actor: Actor, job_id: int) -> JobRecord:
        self._guard.admin(actor, "retry jobs")
        job = await self._jobs.retry(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        await self._guard.record(actor, "job.retry", f"job/{job_id}", detail={"kind": job.kind})
        return job

    async def schedules(self, actor: Actor) -> list[ScheduleRecord]:
        self._guard.admin(actor, "list schedules")
        return await self._jobs.schedules()

    async def change_schedule(
        self, actor: Actor, name: str, *, cron: str | None, enabled: bool | None
    ) -> ScheduleRecord:
        self._guard.admin(actor, "change schedules")
        done = await self._jobs.change_schedule(name, cron=cron, enabled=enabled)
        if done is None:
            raise NotFound(f"schedule {name!r} not found")
        detail = {k: v for k, v in (("cron", cron), ("enabled", enabled)) if v is not None}
        await self._guard.record(actor, "schedule.change", f"schedule/{name}", detail=detail)
        return done

    async def run_now(self, actor: Actor, name: str) -> JobRecord:
        """Enqueue the schedule's job now (as its next tick would)."""
        self._guard.admin(actor, "run schedules")
        schedule = await self._jobs.schedule(name)
        if schedule is None:
            raise NotFound(f"schedule {name!r} not found")
        job_id = await self._jobs.enqueue(
            schedule.kind, schedule.payload, dedup_key=f"schedule:{name}", schedule=name
        )
        await self._guard.record(actor, "schedule.run", f"schedule/{name}", detail={"job": job_id})
        job = await self._jobs.get(job_id)
        assert job is not None
        return job
