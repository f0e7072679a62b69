"""The job queue's transactions, as plain functions of a synchronous Connection (run by
metadata/writer.py: on SQLite in the one writer thread, on PostgreSQL in a transaction
of their own).

Claiming on PostgreSQL is `SELECT … FOR UPDATE SKIP LOCKED`: concurrent workers each
take a different job without waiting on each other. On SQLite the single writer makes
every claim atomic by construction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.jobs import JobRecord, JobState
from dockyard.metadata import schema as s

j, jl = s.jobs, s.job_log
ACTIVE = text("state IN ('queued', 'running')")
MAX_ERROR = 4000  # characters of an error kept with the job


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), separators=(",", ":"), default=str)


def record(row: Row[Any]) -> JobRecord:
    state: JobState = row.state
    return JobRecord(
        id=int(row.id),
        kind=row.kind,
        payload=json.loads(row.payload),
        state=state,
        attempts=int(row.attempts),
        max_attempts=int(row.max_attempts),
        dedup_key=row.dedup_key,
        run_after=_utc(row.run_after) or now(),
        created_at=_utc(row.created_at) or now(),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        lease_holder=row.lease_holder,
        lease_until=_utc(row.lease_until),
        last_error=row.last_error,
        result=json.loads(row.result) if row.result else None,
        schedule=row.schedule,
        cancel_requested=bool(row.cancel_requested),
    )


def _insert(conn: Connection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(j)


def _get(conn: Connection, job_id: int, *, lock: bool = False) -> Row[Any] | None:
    q = select(j).where(j.c.id == job_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).first()


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    dedup_key: str | None,
    run_after: dt.datetime | None,
    max_attempts: int,
    schedule: str | None,
) -> int:
    at = now()
    values = {
        "kind": kind,
        "payload": _json(payload),
        "state": "queued",
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedup_key": dedup_key,
        "rerun": False,
        "cancel_requested": False,
        "run_after": run_after or at,
        "schedule": schedule,
        "created_at": at,
    }
    stmt = _insert(conn).values(**values)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"], index_where=ACTIVE)
    job_id = conn.scalar(stmt.returning(j.c.id))
    if job_id is not None:
        return int(job_id)
    # one is queued or running under this key: a running one runs once more after
    q = select(j.c.id, j.c.state).where(j.c.dedup_key == dedup_key, ACTIVE)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    active = conn.execute(q).first()
    if active is None:  # it finished between the two statements: add ours after all
        return enqueue(conn, kind, payload, dedup_key, run_after, max_attempts, schedule)
    if active.state == "running":
        conn.execute(update(j).where(j.c.id == active.id).values(rerun=True))
    return int(active.id)


def claim(
    conn: Connection, holder: str, lease_seconds: float, kinds: Sequence[str]
) -> tuple[JobRecord | None, list[JobRecord]]:
    """Take the next job that is due (or whose worker's lease ran out) for `holder`.

    Returns (claimed job, jobs found abandoned on their last attempt, now failed)."""
    failed: list[JobRecord] = []
    while True:
        at = now()
        due = or_(
            and_(j.c.state == "queued", j.c.run_after <= at),
            and_(j.c.state == "running", j.c.lease_until < at),
        )
        q = select(j).where(due, j.c.kind.in_(list(kinds))).order_by(j.c.run_after, j.c.id)
        q = q.limit(1)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        row = conn.execute(q).first()
        if row is None:
            return None, failed
        if row.state == "running" and row.attempts >= row.max_attempts:
            # its worker died on the last attempt it had
            conn.execute(
                update(j)
                .where(j.c.id == row.id)
                .values(
                    state="failed",
                    finished_at=at,
                    lease_holder=None,
                    lease_until=None,
                    last_error=f"worker {row.lease_holder} was lost (lease expired) "
                    f"on attempt {row.attempts} of {row.max_attempts}",
                )
            )
            failed.append(record(_get(conn, row.id) or row))
            continue
        if row.state == "running":
            add_log(conn, row.id, row.attempts, f"worker {row.lease_holder} was lost; retrying")
        conn.execute(
            update(j)
            .where(j.c.id == row.id)
            .values(
                state="running",
                attempts=j.c.attempts + 1,
                lease_holder=holder,
                lease_until=at + dt.timedelta(seconds=lease_seconds),
                started_at=at,
                finished_at=None,
            )
        )
        claimed = _get(conn, row.id)
        assert claimed is not None
        return record(claimed), failed


def heartbeat(
    conn: Connection, job_id: int, holder: str, lease_seconds: float
) -> tuple[bool, bool]:
    """Renew the lease. Returns (still held by `holder`, cancel requested)."""
    row = conn.execute(
        update(j)
        .where(j.c.id == job_id, j.c.lease_holder == holder, j.c.state == "running")
        .values(lease_until=now() + dt.timedelta(seconds=lease_seconds))
        .returning(j.c.cancel_requested)
    ).first()
    return (False, False) if row is None else (True, bool(row.cancel_requested))


def finish(
    conn: Connection,
    job_id: int,
    holder: str,
    outcome: str,
    *,
    error: str | None = None,
    result: Mapping[str, Any] | None = None,
    retry_in: float = 0.0,
) -> JobRecord | None:
    """End the holder's run of a job: outcome succeeded, retry, failed, cancelled or
    released (given back untried, at shutdown). None if the holder lost the job."""
    row = _get(conn, job_id, lock=True)
    if row is None or row.lease_holder != holder or row.state != "running":
        return None
    at = now()
    values: dict[str, Any] = {"lease_holder": None, "lease_until": None}
    if error is not None:
        values["last_error"] = error[:MAX_ERROR]
    if outcome == "succeeded" and row.rerun:
        # work arrived while it ran (an enqueue under its dedup key): go again
        values |= {"state": "queued", "rerun": False, "attempts": 0, "run_after": at}
        values["result"] = _json(result)
    elif outcome == "succeeded":
        values |= {"state": "succeeded", "finished_at": at, "result": _json(result)}
    elif outcome == "retry":
        values |= {"state": "queued", "run_after": at + dt.timedelta(seconds=retry_in)}
    elif outcome == "released":
        values |= {"state": "queued", "run_after": at, "attempts": j.c.attempts - 1}
    else:
        values |= {"state": outcome, "finished_at": at, "rerun": False}
    conn.execute(update(j).where(j.c.id == job_id).values(**values))
    done = _get(conn, job_id)
    return None if done is None else record(done)


def add_log(conn: Connection, job_id: int, attempt: int, message: str) -> None:
    conn.execute(
        jl.insert().values(job_id=job_id, at=now(), attempt=attempt, message=message[:MAX_ERROR])
    )


def cancel(conn: Connection, job_id: int) -> JobRecord | None:
    row = _get(conn, job_id, lock=True)
    if row is None:
        return None
    if row.state == "queued":
        conn.execute(update(j).where(j.c.id == job_id).values(state="cancelled", finished_at=now()))
    elif row.state == "running":
        conn.execute(update(j).where(j.c.id == job_id).values(cancel_requested=True))
    done = _get(conn, job_id)
    return None if done is None else record(done)


def retry(conn: Connection, job_id: int) -> JobRecord | None:
    """Queue a failed or cancelled job again; raises IntegrityError (through the
    active-dedup index) when another job under its key is queued or running."""
    row = _get(conn, job_id, lock=True)
    if row is None:
        return None
    if row.state in ("failed", "cancelled"):
        conn.execute(
            update(j)
            .where(j.c.id == job_id)
            .values(
                state="queued",
                attempts=0,
                run_after=now(),
                finished_at=None,
                cancel_requested=False,
                rerun=False,
            )
        )
    done = _get(conn, job_id)
    return None if done is None else record(done)


def purge(conn: Connection, before: dt.datetime) -> int:
    """Forget finished jobs (and their logs) that ended before `before`."""
    old = select(j.c.id).where(
        j.c.finished_at < before, j.c.state.in_(("succeeded", "failed", "cancelled"))
    )
    conn.execute(delete(jl).where(jl.c.job_id.in_(old)))
    return int(conn.execute(delete(j).where(j.c.id.in_(old))).rowcount or 0)


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(j.c.state, func.count()).group_by(j.c.state)).all()
    return {str(state): int(n) for state, n in rows}
