"""Replication's SQL (SQLite and PostgreSQL by the same statements), on the metadata
store's engines: policies, executions with their lease, and items.

An execution is run by whoever holds its lease (a row's `lease_holder` and
`lease_until`, taken by one UPDATE that only matches a free or expired lease: two
workers racing see exactly one win). Items are taken in id order, which for an
event-triggered execution is the events' commit order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict, NotFound
from dockyard.metadata.engine import HasEngines, utcnow
from dockyard.replication.records import (
    FINISHED,
    ITEM_OPEN,
    Execution,
    Item,
    NewItem,
    Outcome,
    Policy,
    execution_of,
    item_of,
    policy_of,
    policy_values,
)
from dockyard.replication.tables import (
    replication_executions as ex,
)
from dockyard.replication.tables import (
    replication_items as it,
)
from dockyard.replication.tables import (
    replication_policies as pol,
)

_EXECUTION_COLUMNS = (*ex.c, pol.c.name)


class ReplicationStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    # -- policies -----------------------------------------------------------

    async def policies(self) -> list[Policy]:
        async with self._read.connect() as conn:
            rows = await conn.execute(select(pol).order_by(pol.c.name))
            return [policy_of(r) for r in rows]

    async def policy(self, name: str) -> Policy:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(pol).where(pol.c.name == name))).first()
        if row is None:
            raise NotFound(f"no replication policy named {name}")
        return policy_of(row)

    async def policy_by_id(self, policy_id: int) -> Policy | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(pol).where(pol.c.id == policy_id))).first()
        return None if row is None else policy_of(row)

    async def create_policy(self, policy: Policy) -> Policy:
        now = utcnow()
        try:
            async with self._write.begin() as conn:
                await conn.execute(
                    pol.insert().values(
                        name=policy.name,
                        created_by=policy.created_by,
                        created_at=now,
                        updated_at=now,
                        **policy_values(policy),
                    )
                )
        except IntegrityError:
            raise Conflict(f"a replication policy named {policy.name} exists") from None
        return await self.policy(policy.name)

    async def update_policy(self, policy: Policy) -> Policy:
        async with self._write.begin() as conn:
            done = await conn.execute(
                update(pol)
                .where(pol.c.name == policy.name)
                .values(updated_at=utcnow(), **policy_values(policy))
            )
        if not done.rowcount:
            raise NotFound(f"no replication policy named {policy.name}")
        return await self.policy(policy.name)

    async def delete_policy(self, name: str) -> None:
        """Its executions and their items go with it (ON DELETE CASCADE)."""
        async with self._write.begin() as conn:
            done = await conn.execute(delete(pol).where(pol.c.name == name))
        if not done.rowcount:
            raise NotFound(f"no replication policy named {name}")

    # -- executions ---------------------------------------------------------

    async def create_execution(
        self,
        policy: Policy,
        trigger: str,
        actor: str,
        *,
        dry_run: bool = False,
        items: Sequence[NewItem] = (),
        dedup: str | None = None,
    ) -> int | None:
        """A new execution (and its items, when already known), or None when one with
        `dedup` exists for the policy (an event batch handed over again)."""
        now = utcnow()
        try:
            async with self._write.begin() as conn:
                created = await conn.execute(
                    ex.insert()
                    .values(
                        policy_id=policy.id,
                        trigger=trigger,
                        dry_run=dry_run,
                        state="queued",
                        dedup=dedup,
                        retries=0,
                        stop_requested=False,
                        created_by=actor,
                        created_at=now,
                    )
                    .returning(ex.c.id)
                )
                execution_id = int(created.scalar_one())
                if items:
                    await conn.execute(
                        it.insert(), [self._new_item(execution_id, i) for i in items]
                    )
        except IntegrityError:
            if dedup is None:
                raise
            return None
        return execution_id

    @staticmethod
    def _new_item(execution_id: int, item: NewItem) -> dict[str, Any]:
        return {
            "execution_id": execution_id,
            "action": item.action,
            "source_repository": item.source_repository,
            "reference": item.reference,
            "destination_repository": item.destination_repository,
            "digest": item.digest,
            "state": "pending" if item.error is None else "failed",
            "error": item.error,
            "attempts": 0,
            "bytes": 0,
            "blobs_copied": 0,
            "blobs_skipped": 0,
            "blobs_mounted": 0,
            "referrers": 0,
            "updated_at": utcnow(),
        }

    async def add_items(self, execution_id: int, items: Sequence[NewItem]) -> None:
        if items:
            async with self._write.begin() as conn:
                await conn.execute(it.insert(), [self._new_item(execution_id, i) for i in items])

    async def _counts(self, conn: Any, ids: list[int]) -> dict[int, tuple[dict[str, int], int]]:
        out: dict[int, tuple[dict[str, int], int]] = {i: ({}, 0) for i in ids}
        if not ids:
            return out
        rows = await conn.execute(
            select(it.c.execution_id, it.c.state, func.count(), func.sum(it.c.bytes))
            .where(it.c.execution_id.in_(ids))
            .group_by(it.c.execution_id, it.c.state)
        )
        for execution_id, state, count, nbytes in rows:
            counts, total = out[execution_id]
            counts[state] = int(count)
            out[execution_id] = (counts, total + int(nbytes or 0))
        return out

    async def execution(self, execution_id: int) -> Execution:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(
                    select(*_EXECUTION_COLUMNS)
                    .join(pol, pol.c.id == ex.c.policy_id)
                    .where(ex.c.id == execution_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"no replication execution {execution_id}")
            counts = await self._counts(conn, [execution_id])
        return execution_of(row, *counts[execution_id])

    async def executions(
        self,
        *,
        policy: str | None = None,
        state: str | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        oldest_first: bool = False,
    ) -> list[Execution]:
        """Newest first (or oldest first); `before` and `after` keep ids below and
        above: the last id of a page bounds the next."""
        query = select(*_EXECUTION_COLUMNS).join(pol, pol.c.id == ex.c.policy_id)
        if policy is not None:
            query = query.where(pol.c.name == policy)
        if state is not None:
            query = query.where(ex.c.state == state)
        if before is not None:
            query = query.where(ex.c.id < before)
        if after is not None:
            query = query.where(ex.c.id > after)
        order = ex.c.id if oldest_first else ex.c.id.desc()
        async with self._read.connect() as conn:
            rows = list(await conn.execute(query.order_by(order).limit(limit)))
            counts = await self._counts(conn, [r.id for r in rows])
        return [execution_of(r, *counts[r.id]) for r in rows]

    async def unfinished_before(self, policy_id: int, execution_id: int) -> list[int]:
        """Older executions of the policy not finished yet, oldest first (an event
        execution waits for them: deletes and pushes reach the target in order)."""
        async with self._read.connect() as conn:
            rows = await conn.execute(
                select(ex.c.id)
                .where(
                    ex.c.policy_id == policy_id,
                    ex.c.id < execution_id,
                    ex.c.dry_run.is_(False),
                    ex.c.state.not_in(FINISHED),
                )
                .order_by(ex.c.id)
            )
            return [int(r[0]) for r in rows]

    async def unfinished_after(self, policy_id: int, execution_id: int) -> int | None:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(
                    select(ex.c.id)
                    .where(
                        ex.c.policy_id == policy_id,
                        ex.c.id > execution_id,
                        ex.c.dry_run.is_(False),
                        ex.c.state.not_in(FINISHED),
                    )
                    .order_by(ex.c.id)
                    .limit(1)
                )
            ).first()
        return None if row is None else int(row[0])

    async def take_lease(self, execution_id: int, holder: str, seconds: float) -> bool:
        now = utcnow()
        async with self._write.begin() as conn:
            done = await conn.execute(
                update(ex)
                .where(
                    ex.c.id == execution_id,
                    ex.c.state.not_in(FINISHED),
                    or_(
                        ex.c.lease_holder.is_(None),
                        ex.c.lease_until < now,
                        ex.c.lease_holder == holder,
                    ),
                )
                .values(
                    lease_holder=holder,
                    lease_until=now + dt.timedelta(seconds=seconds),
                    state="running",
                    started_at=func.coalesce(ex.c.started_at, now),
                    next_attempt_at=None,
                )
            )
            if not done.rowcount:
                return False
            # what a holder that died left running goes back to the queue
            await conn.execute(
                update(it)
                .where(it.c.execution_id == execution_id, it.c.state == "running")
                .values(state="pending", updated_at=now)
            )
        return True

    async def renew_lease(self, execution_id: int, holder: str, seconds: float) -> bool:
        async with self._write.begin() as conn:
            done = await conn.execute(
                update(ex)
                .where(ex.c.id == execution_id, ex.c.lease_holder == holder)
                .values(lease_until=utcnow() + dt.timedelta(seconds=seconds))
            )
        return bool(done.rowcount)

    async def release(
        self,
        execution_id: int,
        holder: str,
        state: str,
        *,
        error: str | None = None,
        next_attempt_at: dt.datetime | None = None,
        retried: bool = False,
    ) -> None:
        values: dict[str, Any] = {
            "state": state,
            "lease_holder": None,
            "lease_until": None,
            "error": error,
            "next_attempt_at": next_attempt_at,
        }
        if retried:
            values["retries"] = ex.c.retries + 1
        if state in FINISHED:
            values["finished_at"] = utcnow()
        async with self._write.begin() as conn:
            await conn.execute(
                update(ex)
                .where(ex.c.id == execution_id, ex.c.lease_holder == holder)
                .values(**values)
            )

    async def request_stop(self, execution_id: int) -> bool:
        """Stop a queued or retrying execution now, a running one at its next item;
        False when it had already finished."""
        async with self._write.begin() as conn:
            idle = await conn.execute(
                update(ex)
                .where(
                    ex.c.id == execution_id,
                    ex.c.state.in_(("queued", "retrying")),
                    or_(ex.c.lease_holder.is_(None), ex.c.lease_until < utcnow()),
                )
                .values(state="stopped", stop_requested=True, finished_at=utcnow())
            )
            if idle.rowcount:
                await conn.execute(
                    update(it)
                    .where(it.c.execution_id == execution_id, it.c.state.in_(ITEM_OPEN))
                    .values(state="cancelled", updated_at=utcnow())
                )
                return True
            running = await conn.execute(
                update(ex)
                .where(ex.c.id == execution_id, ex.c.state.not_in(FINISHED))
                .values(stop_requested=True)
            )
        return bool(running.rowcount)

    async def stop_requested(self, execution_id: int) -> bool:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(select(ex.c.stop_requested).where(ex.c.id == execution_id))
            ).first()
        return row is None or bool(row[0])

    async def reopen(self, execution_id: int) -> bool:
        """A finished execution's failed and cancelled items pending again, the
        execution queued (an operator's retry); False when it is not finished."""
        async with self._write.begin() as conn:
            done = await conn.execute(
                update(ex)
                .where(ex.c.id == execution_id, ex.c.state.in_(("failed", "stopped")))
                .values(
                    state="queued",
                    stop_requested=False,
                    retries=0,
                    error=None,
                    finished_at=None,
                )
            )
            if not done.rowcount:
                return False
            await conn.execute(
                update(it)
                .where(
                    it.c.execution_id == execution_id,
                    it.c.state.in_(("failed", "cancelled")),
                )
                .values(state="pending", error=None, updated_at=utcnow())
            )
        return True

    async def retrying_due(self, now: dt.datetime) -> list[int]:
        """Executions waiting to retry whose time has come, or whose lease expired
        while running (a worker died): the sweeper enqueues them again."""
        async with self._read.connect() as conn:
            rows = await conn.execute(
                select(ex.c.id).where(
                    or_(
                        and_(ex.c.state == "retrying", ex.c.next_attempt_at <= now),
                        and_(ex.c.state == "running", ex.c.lease_until < now),
                    )
                )
            )
            return [int(r[0]) for r in rows]

    async def purge(self, before: dt.datetime) -> int:
        """Delete executions that finished before `before` (their items go with them)."""
        async with self._write.begin() as conn:
            done = await conn.execute(
                delete(ex).where(ex.c.state.in_(FINISHED), ex.c.finished_at < before)
            )
        return int(done.rowcount or 0)

    # -- items --------------------------------------------------------------

    async def items(
        self,
        execution_id: int,
        *,
        state: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> list[Item]:
        query = select(it).where(it.c.execution_id == execution_id)
        if state is not None:
            query = query.where(it.c.state == state)
        if after is not None:
            query = query.where(it.c.id > after)
        async with self._read.connect() as conn:
            rows = await conn.execute(query.order_by(it.c.id).limit(limit))
            return [item_of(r) for r in rows]

    async def has_items(self, execution_id: int) -> bool:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(
                    select(it.c.id).where(it.c.execution_id == execution_id).limit(1)
                )
            ).first()
        return row is not None

    async def next_pending(self, execution_id: int) -> Item | None:
        """Take the oldest pending item (its state becomes running). Several takers of
        one execution never get the same item: the UPDATE only matches it while it is
        pending, and a taker that lost the race takes the next."""
        while True:
            async with self._write.begin() as conn:
                row = (
                    await conn.execute(
                        select(it)
                        .where(it.c.execution_id == execution_id, it.c.state == "pending")
                        .order_by(it.c.id)
                        .limit(1)
                    )
                ).first()
                if row is None:
                    return None
                taken = await conn.execute(
                    update(it)
                    .where(it.c.id == row.id, it.c.state == "pending")
                    .values(state="running", attempts=it.c.attempts + 1, updated_at=utcnow())
                )
            if taken.rowcount:
                return item_of(row)

    async def finish_item(self, item_id: int, outcome: Outcome) -> None:
        values: dict[str, Any] = {
            "state": outcome.state,
            "error": None if outcome.error is None else outcome.error[:2000],
            "bytes": outcome.bytes,
            "blobs_copied": outcome.blobs_copied,
            "blobs_skipped": outcome.blobs_skipped,
            "blobs_mounted": outcome.blobs_mounted,
            "referrers": outcome.referrers,
            "updated_at": utcnow(),
        }
        if outcome.digest is not None:
            values["digest"] = outcome.digest
        async with self._write.begin() as conn:
            await conn.execute(update(it).where(it.c.id == item_id).values(**values))

    async def cancel_open(self, execution_id: int) -> None:
        async with self._write.begin() as conn:
            await conn.execute(
                update(it)
                .where(it.c.execution_id == execution_id, it.c.state.in_(ITEM_OPEN))
                .values(state="cancelled", updated_at=utcnow())
            )

    async def state_counts(self) -> dict[str, dict[str, int]]:
        """Executions per state and items per state (all policies), for metrics."""
        async with self._read.connect() as conn:
            executions = dict(
                (str(s), int(n))
                for s, n in await conn.execute(
                    select(ex.c.state, func.count()).group_by(ex.c.state)
                )
            )
            items = dict(
                (str(s), int(n))
                for s, n in await conn.execute(
                    select(it.c.state, func.count()).group_by(it.c.state)
                )
            )
        return {"executions": executions, "items": items}
