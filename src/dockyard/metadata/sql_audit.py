"""AuditStore and SecretStore on SQL: the audit trail, login throttling, server secrets."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select, update

from dockyard.metadata import schema as s
from dockyard.metadata.identity import AuditEvent, AuditQuery, AuditSort, Page, ThrottleRule
from dockyard.metadata.sql import _now, _utc, like_escape
from dockyard.metadata.sql_base import SqlEngines, ordering


def _delay_case(n: Any, rule: ThrottleRule) -> Any:
    """SQL for `rule.delay(n)`: no wait for the free attempts, then doubling up to the cap."""
    steps = [(n < rule.free, 0.0)]
    i = 0
    while rule.base * 2**i < rule.cap:
        steps.append((n == rule.free + i, rule.base * 2**i))
        i += 1
    return case(*steps, else_=rule.cap)


class SqlAuditStore:
    def __init__(self, db: SqlEngines) -> None:
        self._db = db

    async def add_audit(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        now = _now()
        rows = [
            {
                "at": ev.at or now,
                "actor": ev.actor[:255],
                "actor_kind": ev.actor_kind,
                "address": ev.address[:64],
                "action": ev.action,
                "resource": ev.resource[:512],
                "project": ev.project,
                "outcome": ev.outcome,
                "detail": None if ev.detail is None else json.dumps(ev.detail),
            }
            for ev in events
        ]
        async with self._db.write.begin() as conn:
            await conn.execute(s.audit_log.insert(), rows)

    async def query_audit(
        self, query: AuditQuery, page: Page, sort: AuditSort = "-at"
    ) -> tuple[list[AuditEvent], int]:
        a = s.audit_log
        conds: list[Any] = []
        if query.actor:
            conds.append(a.c.actor == query.actor)
        if query.action:
            conds.append(a.c.action == query.action)
        if query.project:
            conds.append(a.c.project == query.project)
        if query.projects is not None:
            conds.append(a.c.project.in_(list(query.projects)))
        if query.resource_prefix:
            conds.append(a.c.resource.like(like_escape(query.resource_prefix) + "%", escape="\\"))
        if query.outcome:
            conds.append(a.c.outcome == query.outcome)
        if query.since:
            conds.append(a.c.at >= query.since)
        if query.until:
            conds.append(a.c.at < query.until)
        q = (
            select(a)
            .where(*conds)
            # ix_audit_log_at, read forwards or backwards (ix_audit_log_actor by actor)
            .order_by(*ordering(sort, {"at": a.c.at}, a.c.id))
            .limit(page.size)
            .offset(page.offset)
        )
        count = select(func.count()).select_from(a).where(*conds)
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [
            AuditEvent(
                id=int(r.id),
                at=_utc(r.at),
                actor=r.actor,
                actor_kind=r.actor_kind,
                address=r.address,
                action=r.action,
                resource=r.resource,
                project=r.project,
                outcome=r.outcome,
                detail=None if r.detail is None else json.loads(r.detail),
            )
            for r in rows
        ], total

    async def purge_audit(self, older_than: dt.datetime) -> int:
        async with self._db.write.begin() as conn:
            res = await conn.execute(delete(s.audit_log).where(s.audit_log.c.at < older_than))
        return int(res.rowcount or 0)

    async def take_login_attempt(
        self, key: str, now: float, rule: ThrottleRule
    ) -> tuple[bool, float]:
        t = s.login_throttle
        key = key[:320]
        fresh = t.c.last_at >= now - rule.window
        n = case((fresh, t.c.failures + 1), else_=1)
        counted = (
            update(t)
            .where(t.c.key == key, t.c.blocked_until <= now)
            .values(failures=n, last_at=now, blocked_until=now + _delay_case(n, rule))
            .returning(t.c.blocked_until)
        )
        for _ in range(2):
            async with self._db.write.begin() as conn:
                row = (await conn.execute(counted)).first()
                if row is not None:
                    return True, float(row[0])
                inserted = await conn.execute(
                    self._db.insert(t)
                    .values(key=key, failures=1, last_at=now, blocked_until=now + rule.delay(1))
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(t.c.blocked_until)
                )
                row = inserted.first()
                if row is not None:
                    return True, float(row[0])
                until = await conn.scalar(select(t.c.blocked_until).where(t.c.key == key))
                if until is not None and float(until) > now:
                    return False, float(until)
        return True, now

    async def forgive_login_attempt(self, key: str, rule: ThrottleRule, *, reset: bool) -> None:
        t = s.login_throttle
        key = key[:320]
        async with self._db.write.begin() as conn:
            if reset:
                await conn.execute(delete(t).where(t.c.key == key))
                return
            left = t.c.failures - 1
            await conn.execute(
                update(t)
                .where(t.c.key == key, t.c.failures > 0)
                .values(
                    failures=left,
                    blocked_until=case((left < rule.free, 0.0), else_=t.c.blocked_until),
                )
            )

    async def purge_login_attempts(self, before: float) -> int:
        t = s.login_throttle
        async with self._db.write.begin() as conn:
            res = await conn.execute(
                delete(t).where(t.c.last_at < before, t.c.blocked_until < before)
            )
        return int(res.rowcount or 0)


class SqlSecretStore:
    def __init__(self, db: SqlEngines) -> None:
        self._db = db

    async def get_secret(self, name: str) -> str | None:
        async with self._db.read.connect() as conn:
            got = await conn.scalar(select(s.secrets.c.value).where(s.secrets.c.name == name))
        return None if got is None else str(got)

    async def get_or_create_secret(self, name: str, value: str) -> str:
        async with self._db.write.begin() as conn:
            await conn.execute(
                self._db.insert(s.secrets)
                .values(name=name, value=value, created_at=_now())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            got = await conn.scalar(select(s.secrets.c.value).where(s.secrets.c.name == name))
        assert got is not None
        return str(got)
