"""Cron schedules' transactions (sync Connection, run by the metadata writer).

Exactly one replica fires each tick: firing is a compare-and-set on the schedule's
`next_run_at` (`UPDATE … WHERE name = :n AND next_run_at = :due`) in the same
transaction as the enqueue. Two replicas that both see a schedule due both try; on
PostgreSQL the second waits on the row lock, then finds `next_run_at` moved and
updates nothing; on SQLite the single writer runs them one after the other. A tick
missed while no replica ran fires once when one comes back, not once per missed tick.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.jobs import Schedule, ScheduleRecord
from dockyard.jobs import sql_jobs as q
from dockyard.jobs.cron import next_after
from dockyard.metadata import schema as s

sc = s.schedules


def record(row: Row[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        name=row.name,
        cron=row.cron,
        kind=row.kind,
        payload=json.loads(row.payload),
        enabled=bool(row.enabled),
        next_run_at=q._utc(row.next_run_at) or q.now(),
        last_run_at=q._utc(row.last_run_at),
        last_job_id=None if row.last_job_id is None else int(row.last_job_id),
    )


def declare(conn: Connection, schedules: Sequence[Schedule]) -> None:
    """Make the schedules the code declares exist; a schedule an operator changed
    (custom) keeps the operator's cron and enabled flag."""
    at = q.now()
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(sc)
    for item in schedules:
        payload = q._json(item.payload) or "{}"
        conn.execute(
            ins.values(
                name=item.name,
                cron=item.cron,
                kind=item.kind,
                payload=payload,
                enabled=item.enabled,
                custom=False,
                next_run_at=next_after(item.cron, at),
                updated_at=at,
            ).on_conflict_do_nothing(index_elements=["name"])
        )
        row = conn.execute(select(sc).where(sc.c.name == item.name)).first()
        if row is None or row.custom:
            continue
        if (row.cron, row.kind, row.payload, bool(row.enabled)) != (
            item.cron,
            item.kind,
            payload,
            item.enabled,
        ):
            conn.execute(
                update(sc)
                .where(sc.c.name == item.name)
                .values(
                    cron=item.cron,
                    kind=item.kind,
                    payload=payload,
                    enabled=item.enabled,
                    next_run_at=next_after(item.cron, at),
                    updated_at=at,
                )
            )


def fire_due(
    conn: Connection, kinds: Sequence[str], max_attempts: dict[str, int]
) -> list[tuple[str, int]]:
    """Enqueue a job for every enabled schedule that is due; (schedule, job id) each."""
    at = q.now()
    due = conn.execute(
        select(sc).where(sc.c.enabled.is_(True), sc.c.next_run_at <= at, sc.c.kind.in_(kinds))
    ).all()
    fired: list[tuple[str, int]] = []
    for row in due:
        nxt = next_after(row.cron, at)
        moved = conn.execute(
            update(sc)
            .where(sc.c.name == row.name, sc.c.next_run_at == row.next_run_at)
            .values(next_run_at=nxt, last_run_at=at, updated_at=at)
        )
        if moved.rowcount != 1:
            continue  # another replica fired this tick
        job_id = q.enqueue(
            conn,
            row.kind,
            json.loads(row.payload),
            f"schedule:{row.name}",  # a run still queued or running is not stacked
            None,
            max_attempts.get(row.kind, 5),
            row.name,
        )
        conn.execute(update(sc).where(sc.c.name == row.name).values(last_job_id=job_id))
        fired.append((row.name, job_id))
    return fired


def change(
    conn: Connection, name: str, cron: str | None, enabled: bool | None
) -> ScheduleRecord | None:
    row = conn.execute(select(sc).where(sc.c.name == name)).first()
    if row is None:
        return None
    at = q.now()
    values: dict[str, Any] = {"custom": True, "updated_at": at}
    if cron is not None:
        values |= {"cron": cron, "next_run_at": next_after(cron, at)}
    if enabled is not None:
        values["enabled"] = enabled
        if enabled and cron is None:
            values["next_run_at"] = next_after(row.cron, at)
    conn.execute(update(sc).where(sc.c.name == name).values(**values))
    done = conn.execute(select(sc).where(sc.c.name == name)).first()
    return None if done is None else record(done)


def upsert(conn: Connection, item: Schedule) -> ScheduleRecord:
    """Create or replace a schedule made at run time (a project's retention, say):
    it is the operator's, so `declare` never overwrites it."""
    at = q.now()
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(sc)
    values = {
        "cron": item.cron,
        "kind": item.kind,
        "payload": q._json(item.payload) or "{}",
        "enabled": item.enabled,
        "custom": True,
        "next_run_at": next_after(item.cron, at),
        "updated_at": at,
    }
    conn.execute(
        ins.values(name=item.name, **values).on_conflict_do_update(
            index_elements=["name"], set_=values
        )
    )
    row = conn.execute(select(sc).where(sc.c.name == item.name)).first()
    assert row is not None
    return record(row)


def remove(conn: Connection, name: str) -> bool:
    return bool(conn.execute(sc.delete().where(sc.c.name == name)).rowcount)
