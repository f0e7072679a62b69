"""SqlJobQueue: the job queue and the schedules on the metadata database.

Writes go through the metadata store's writer (metadata/writer.py: SQLite's one
writer thread, or a PostgreSQL transaction each); reads through its read engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.errors import Conflict, InvalidRequest
from dockyard.jobs import JobRecord, JobSort, LogLine, Schedule, ScheduleRecord
from dockyard.jobs import sql_jobs as q
from dockyard.jobs import sql_schedules as sq
from dockyard.jobs.cron import valid_cron
from dockyard.metadata.writer import Writer

j, jl, sc = q.j, q.jl, sq.sc


def check_cron(expression: str, name: str | None = None) -> None:
    if not valid_cron(expression):
        what = f"schedule {name!r}: " if name else ""
        raise InvalidRequest(
            f"{what}{expression!r} is not a cron expression (five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 3 * * *')"
        )


class SqlJobQueue:
    def __init__(self, read: AsyncEngine, writer: Writer, max_attempts: int = 5) -> None:
        self._read = read
        self._writer = writer
        self.max_attempts = max_attempts
        self._wakers: list[Callable[[], None]] = []

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._wakers.append(wake)

    @property
    def read_engine(self) -> AsyncEngine:
        return self._read

    @property
    def writer(self) -> Writer:
        return self._writer

    # -- JobQueue ---------------------------------------------------------------

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        dedup_key: str | None = None,
        run_after: dt.datetime | None = None,
        max_attempts: int | None = None,
        schedule: str | None = None,
    ) -> int:
        job_id = await self._writer.run(
            q.enqueue,
            kind,
            payload or {},
            dedup_key,
            run_after,
            max_attempts or self.max_attempts,
            schedule,
        )
        for wake in self._wakers:
            wake()
        return job_id

    async def get(self, job_id: int) -> JobRecord | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(j).where(j.c.id == job_id))).first()
        return None if row is None else q.record(row)

    async def find(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        sort: JobSort = "-created",
    ) -> list[JobRecord]:
        stmt = select(j).order_by(j.c.id if sort == "created" else j.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(j.c.state == state)
        if kind is not None:
            stmt = stmt.where(j.c.kind == kind)
        if before is not None:
            stmt = stmt.where(j.c.id < before)
        if after is not None:
            stmt = stmt.where(j.c.id > after)
        async with self._read.connect() as conn:
            return [q.record(row) for row in (await conn.execute(stmt)).all()]

    async def log_of(self, job_id: int) -> list[LogLine]:
        stmt = select(jl).where(jl.c.job_id == job_id).order_by(jl.c.id).limit(10_000)
        async with self._read.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [LogLine(q._utc(r.at) or q.now(), int(r.attempt), r.message) for r in rows]

    async def cancel(self, job_id: int) -> JobRecord | None:
        return await self._writer.run(q.cancel, job_id)

    async def retry(self, job_id: int) -> JobRecord | None:
        try:
            return await self._writer.run(q.retry, job_id)
        except IntegrityError:
            raise Conflict(
                f"job {job_id} cannot be retried: another job with its de-duplication key "
                "is queued or running"
            ) from None

    async def counts(self) -> dict[str, int]:
        async with self._read.connect() as conn:
            return await conn.run_sync(q.counts)

    # -- what the worker does ---------------------------------------------------

    async def claim(
        self, holder: str, lease_seconds: float, kinds: Sequence[str]
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        return await self._writer.run(q.claim, holder, lease_seconds, kinds)

    async def heartbeat(self, job_id: int, holder: str, lease_seconds: float) -> tuple[bool, bool]:
        return await self._writer.run(q.heartbeat, job_id, holder, lease_seconds, durable=False)

    async def finish(
        self,
        job_id: int,
        holder: str,
        outcome: str,
        *,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
        retry_in: float = 0.0,
    ) -> JobRecord | None:
        def run(conn: Any) -> JobRecord | None:
            return q.finish(
                conn, job_id, holder, outcome, error=error, result=result, retry_in=retry_in
            )

        return await self._writer.run(run)

    async def add_log(self, job_id: int, attempt: int, message: str) -> None:
        await self._writer.run(q.add_log, job_id, attempt, message)

    async def purge(self, before: dt.datetime) -> int:
        return await self._writer.run(q.purge, before)

    async def has_due(self, kinds: Sequence[str]) -> bool:
        """A cheap read before a claim (a claim is a write)."""
        at = q.now()
        stmt = (
            select(j.c.id)
            .where(
                ((j.c.state == "queued") & (j.c.run_after <= at))
                | ((j.c.state == "running") & (j.c.lease_until < at)),
                j.c.kind.in_(list(kinds)),
            )
            .limit(1)
        )
        async with self._read.connect() as conn:
            return (await conn.scalar(stmt)) is not None

    # -- schedules --------------------------------------------------------------

    async def declare_schedules(self, schedules: Sequence[Schedule]) -> None:
        for item in schedules:
            check_cron(item.cron, item.name)
        await self._writer.run(sq.declare, schedules)

    async def fire_due(
        self, kinds: Sequence[str], max_attempts: dict[str, int]
    ) -> list[tuple[str, int]]:
        at = q.now()
        stmt = select(sc.c.name).where(sc.c.enabled.is_(True), sc.c.next_run_at <= at).limit(1)
        async with self._read.connect() as conn:
            if (await conn.scalar(stmt)) is None:
                return []
        return await self._writer.run(sq.fire_due, kinds, max_attempts)

    async def schedules(self) -> list[ScheduleRecord]:
        async with self._read.connect() as conn:
            rows = (await conn.execute(select(sc).order_by(sc.c.name))).all()
        return [sq.record(row) for row in rows]

    async def schedule(self, name: str) -> ScheduleRecord | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(sc).where(sc.c.name == name))).first()
        return None if row is None else sq.record(row)

    async def change_schedule(
        self, name: str, *, cron: str | None = None, enabled: bool | None = None
    ) -> ScheduleRecord | None:
        if cron is not None:
            check_cron(cron)
        return await self._writer.run(sq.change, name, cron, enabled)

    async def put_schedule(self, schedule: Schedule) -> ScheduleRecord:
        check_cron(schedule.cron)
        return await self._writer.run(sq.upsert, schedule)

    async def delete_schedule(self, name: str) -> bool:
        return await self._writer.run(sq.remove, name)
