"""Tiering's SQL (SQLite and PostgreSQL by the same statements): the rules, and which
blobs their rules send cold or bring back.

A blob's last use is the latest, over the manifests referencing it (config, layers),
of the manifest's last pull (the pull statistics, `artifact_pulls`) or, never pulled,
its push. A blob may go cold when every manifest referencing it is in a project whose
rule (or the default rule) it has outlived: one manifest of a project without a rule,
or pulled within its project's days, keeps it hot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, and_, case, delete, func, literal, null, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.metadata import schema as s
from dockyard.metadata.engine import HasEngines, utc, utcnow
from dockyard.tiering.tables import blob_tiers as bt
from dockyard.tiering.tables import tier_rules as tr


@dataclass(frozen=True, slots=True)
class Rule:
    project: str
    cold_after_days: int
    updated_by: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Totals:
    blobs: int
    bytes: int
    cold_blobs: int
    cold_bytes: int

    @property
    def hot_blobs(self) -> int:
        return max(0, self.blobs - self.cold_blobs)

    @property
    def hot_bytes(self) -> int:
        return max(0, self.bytes - self.cold_bytes)


Cutoffs = Mapping[int, dt.datetime]
"""project id → the time before which its manifests' last use makes them cold"""


def _blocked(cutoffs: Cutoffs, default: dt.datetime | None) -> Any:
    """Per (manifest, blob) reference: 1 when the manifest keeps the blob hot."""
    m, ap, repos = s.manifests, s.artifact_pulls, s.repositories
    if not cutoffs and default is None:
        return literal(1)  # no rule at all: every reference keeps its blob hot
    stamp = DateTime(timezone=True)
    if cutoffs:
        fallback = literal(default, stamp) if default is not None else null()
        cutoff: Any = case(
            {pid: literal(at, stamp) for pid, at in cutoffs.items()},
            value=repos.c.project_id,
            else_=fallback,
        )
    else:
        cutoff = literal(default, stamp)
    last_used = func.coalesce(ap.c.last_pulled_at, m.c.created_at)
    return case((cutoff.is_(None), 1), (last_used >= cutoff, 1), else_=0)


def _references() -> Any:
    m, r, ap, repos, b = (
        s.manifests,
        s.manifest_references,
        s.artifact_pulls,
        s.repositories,
        s.blobs,
    )
    return (
        r.join(m, m.c.id == r.c.manifest_id)
        .join(repos, repos.c.id == m.c.repository_id)
        .outerjoin(ap, and_(ap.c.repository_id == m.c.repository_id, ap.c.digest == m.c.digest))
        .join(b, b.c.digest == r.c.digest)
    )


class TieringStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    # -- rules ----------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        p = s.projects
        query = select(p.c.name, tr).select_from(tr.join(p, p.c.id == tr.c.project_id))
        async with self._read.connect() as conn:
            rows = await conn.execute(query.order_by(p.c.name))
            return [Rule(r.name, r.cold_after_days, r.updated_by, utc(r.updated_at)) for r in rows]

    async def rule(self, project_id: int, project: str) -> Rule | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(tr).where(tr.c.project_id == project_id))).first()
        if row is None:
            return None
        return Rule(project, row.cold_after_days, row.updated_by, utc(row.updated_at))

    async def put_rule(self, project_id: int, project: str, days: int, actor: str) -> Rule:
        now = utcnow()
        values = {"cold_after_days": days, "updated_by": actor, "updated_at": now}
        async with self._write.begin() as conn:
            changed = await conn.execute(
                update(tr).where(tr.c.project_id == project_id).values(**values)
            )
            if not changed.rowcount:
                await conn.execute(tr.insert().values(project_id=project_id, **values))
        return Rule(project, days, actor, now)

    async def delete_rule(self, project_id: int) -> bool:
        async with self._write.begin() as conn:
            gone = await conn.execute(delete(tr).where(tr.c.project_id == project_id))
        return bool(gone.rowcount)

    async def cutoffs(self, now: dt.datetime) -> dict[int, dt.datetime]:
        async with self._read.connect() as conn:
            rows = await conn.execute(select(tr.c.project_id, tr.c.cold_after_days))
            return {r.project_id: now - dt.timedelta(days=r.cold_after_days) for r in rows}

    # -- what goes where ------------------------------------------------------------

    async def to_cool(
        self, cutoffs: Cutoffs, default: dt.datetime | None, min_bytes: int, limit: int
    ) -> list[tuple[str, int]]:
        """Hot blobs (digest, size) every referencing manifest has outlived the rule of,
        largest first."""
        if not cutoffs and default is None:
            return []
        b, r = s.blobs, s.manifest_references
        query = (
            select(r.c.digest, b.c.size)
            .select_from(_references())
            .where(
                r.c.kind == "blob",
                b.c.size >= min_bytes,
                b.c.deleting_since.is_(None),
                ~select(bt.c.digest).where(bt.c.digest == r.c.digest).exists(),
            )
            .group_by(r.c.digest, b.c.size)
            .having(func.max(_blocked(cutoffs, default)) == 0)
            .order_by(b.c.size.desc(), r.c.digest)
            .limit(limit)
        )
        async with self._read.connect() as conn:
            return [(row.digest, int(row.size)) for row in await conn.execute(query)]

    async def to_warm(
        self, cutoffs: Cutoffs, default: dt.datetime | None, limit: int
    ) -> list[tuple[str, int]]:
        """Cold blobs some referencing manifest keeps hot again (pulled within its
        rule's days, or in a project that no longer has a rule)."""
        b, r = s.blobs, s.manifest_references
        wanted = (
            select(r.c.digest.label("digest"))
            .select_from(_references())
            .where(r.c.kind == "blob", b.c.deleting_since.is_(None))
            .group_by(r.c.digest)
            .having(func.max(_blocked(cutoffs, default)) == 1)
            .subquery()
        )
        query = (
            select(bt.c.digest, bt.c.size)
            .select_from(bt.join(wanted, wanted.c.digest == bt.c.digest))
            .order_by(bt.c.digest)
            .limit(limit)
        )
        async with self._read.connect() as conn:
            return [(row.digest, int(row.size)) for row in await conn.execute(query)]

    async def cold_page(self, after: str, limit: int) -> list[tuple[str, int]]:
        query = select(bt.c.digest, bt.c.size).where(bt.c.digest > after)
        async with self._read.connect() as conn:
            rows = await conn.execute(query.order_by(bt.c.digest).limit(limit))
            return [(row.digest, int(row.size)) for row in rows]

    async def mark_cold(self, digest: str, size: int) -> bool:
        """Record a blob whose cold copy is whole; False when the blob is gone or being
        collected (the caller deletes the copy it made)."""
        b = s.blobs
        source = select(b.c.digest, literal(size), literal(utcnow(), DateTime(timezone=True)))
        source = source.where(b.c.digest == digest, b.c.deleting_since.is_(None))
        try:
            async with self._write.begin() as conn:
                done = await conn.execute(
                    bt.insert().from_select(["digest", "size", "moved_at"], source)
                )
        except IntegrityError:  # already recorded (a pass that died after the insert)
            return True
        return bool(done.rowcount)

    async def unmark(self, digest: str) -> None:
        async with self._write.begin() as conn:
            await conn.execute(delete(bt).where(bt.c.digest == digest))

    async def totals(self) -> Totals:
        b = s.blobs
        stored = select(func.count(), func.coalesce(func.sum(b.c.size), 0)).select_from(b)
        cold = select(func.count(), func.coalesce(func.sum(bt.c.size), 0)).select_from(bt)
        async with self._read.connect() as conn:
            count, size = (await conn.execute(stored)).one()
            cold_count, cold_size = (await conn.execute(cold)).one()
        return Totals(int(count), int(size), int(cold_count), int(cold_size))
