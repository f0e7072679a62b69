"""From the outbox to the consumers.

The relay (a tick of every worker's loop) gives committed events a sequence number
in the order it finds them committed: on PostgreSQL ids are taken at insert, not at
commit, so a consumer reading "ids after the last one I saw" could skip an event whose
transaction committed late; a `seq` given after commit, by one relay at a time (an
advisory lock; SQLite's single writer), cannot. Then it enqueues one `events.consume`
job per consumer that wants what arrived (de-duplicated: one queued per consumer).

A consume job reads the consumer's events after its cursor, in `seq` order and in
batches, calls the handler, and moves the cursor only once the handler returned.
A handler that raises is retried from the same cursor (at least once delivery).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.events import Event, EventConsumer
from dockyard.jobs import JobContext, JobKind, PermanentFailure
from dockyard.metadata import schema as s
from dockyard.metadata.sql_base import ts
from dockyard.metadata.writer import Writer

RELAY_LOCK = 0x646F636B72656C79  # "dockrely"
BATCH = 1000
CONSUME = "events.consume"

e, ec = s.events, s.event_consumers


def event(row: Row[Any]) -> Event:
    return Event(
        id=int(row.id),
        seq=int(row.seq),
        kind=row.kind,
        at=ts(row.at),
        repository=row.repository,
        project=row.project,
        digest=row.digest,
        tag=row.tag,
        media_type=row.media_type,
        actor=row.actor,
        detail=json.loads(row.detail) if row.detail else {},
    )


def relay(conn: Connection) -> set[str]:
    """Number the committed events not numbered yet; the kinds among them."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELAY_LOCK})
    rows = conn.execute(
        select(e.c.id, e.c.kind).where(e.c.seq.is_(None)).order_by(e.c.id).limit(BATCH)
    ).all()
    if not rows:
        return set()
    top = _top_seq(conn)
    conn.execute(
        update(e).where(e.c.id == bindparam("eid")).values(seq=bindparam("eseq")),
        [{"eid": row.id, "eseq": top + i} for i, row in enumerate(rows, start=1)],
    )
    return {row.kind for row in rows}


def declare(conn: Connection, names: Sequence[str]) -> None:
    """Give consumers seen for the first time a cursor at the end of what was relayed:
    a new consumer gets what happens from now on, not the history."""
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(ec)
    start = _top_seq(conn)
    for name in names:
        conn.execute(
            ins.values(
                name=name, position=start, updated_at=dt.datetime.now(dt.UTC)
            ).on_conflict_do_nothing(index_elements=["name"])
        )


def _position(conn: Connection, name: str) -> int:
    declare(conn, [name])
    q = select(ec.c.position).where(ec.c.name == name)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return int(conn.scalar(q) or 0)


def _top_seq(conn: Connection) -> int:
    """The last sequence number given (where a new consumer starts: no history)."""
    return int(conn.scalar(select(func.coalesce(func.max(e.c.seq), 0))) or 0)


def advance(conn: Connection, name: str, old: int, new: int) -> bool:
    res = conn.execute(
        update(ec)
        .where(ec.c.name == name, ec.c.position == old)
        .values(position=new, updated_at=dt.datetime.now(dt.UTC))
    )
    return res.rowcount == 1


def pending(
    conn: Connection, name: str, kinds: Sequence[str], limit: int
) -> tuple[int, int, list[Event]]:
    """(cursor, position after this batch, the batch)."""
    position = _position(conn, name)
    top = _top_seq(conn)
    rows = conn.execute(
        select(e)
        .where(and_(e.c.seq > position, e.c.seq <= top, e.c.kind.in_(list(kinds))))
        .order_by(e.c.seq)
        .limit(limit)
    ).all()
    found = [event(row) for row in rows]
    after = found[-1].seq if len(found) == limit else top
    return position, after, found


class Relay:
    """The relay tick and the consume job, for the registered consumers."""

    def __init__(self, read: Any, writer: Writer, queue: Any, consumers: Sequence[EventConsumer]):
        self._read = read
        self._writer = writer
        self._queue = queue
        self.consumers = {c.name: c for c in consumers}

    async def declare(self) -> None:
        """Before the first tick: cursors for consumers new to this database."""
        await self._writer.run(declare, list(self.consumers))

    async def tick(self) -> None:
        probe = select(e.c.id).where(e.c.seq.is_(None)).limit(1)
        async with self._read.connect() as conn:
            if (await conn.scalar(probe)) is None:
                return
        kinds = await self._writer.run(relay)
        for consumer in self.consumers.values():
            if consumer.kinds & kinds:
                await self._queue.enqueue(
                    CONSUME, {"consumer": consumer.name}, dedup_key=f"{CONSUME}:{consumer.name}"
                )

    async def consume(self, ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        consumer = self.consumers.get(str(payload.get("consumer")))
        if consumer is None:
            raise PermanentFailure(f"no event consumer {payload.get('consumer')!r} in this build")
        kinds = sorted(consumer.kinds)
        handled = 0
        while True:
            await ctx.checkpoint()
            cursor, after, batch = await self._writer.run(
                pending, consumer.name, kinds, consumer.batch_size, durable=False
            )
            if batch:
                await consumer.handle(ctx, batch)
                handled += len(batch)
            if after == cursor:
                return {"handled": handled}
            if not await self._writer.run(advance, consumer.name, cursor, after):
                raise RuntimeError(f"the cursor of {consumer.name} moved under this job")
            if not batch:
                return {"handled": handled}

    def kind(self) -> JobKind:
        return JobKind(CONSUME, self.consume, max_attempts=20, backoff_seconds=5.0)
