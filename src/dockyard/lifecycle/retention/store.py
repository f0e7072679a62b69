"""The capability's SQL: its rules and policies (its own tables), and the inventory of
a project's artifacts that retention evaluates (the core's tables, read only).

It runs on the metadata store's engines (services.store): reads on the reader, rule
changes on the writer engine, as the identity stores do.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.lifecycle.retention.policy import Artifact, RetentionPolicy
from dockyard.lifecycle.retention.tables import immutability_rules, retention_policies
from dockyard.metadata import schema as s
from dockyard.metadata.engine import HasEngines, utc, utcnow

MAX_IMMUTABILITY_RULES = 100


@dataclass(frozen=True, slots=True)
class ImmutabilityRule:
    id: int
    project_id: int
    repository: str
    tag: str
    created_by: str
    created_at: dt.datetime

    def describe(self) -> str:
        return f"immutability rule {self.id}: {self.repository}:{self.tag}"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    policy: RetentionPolicy
    updated_by: str
    updated_at: dt.datetime


class RetentionStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    # -- immutability rules -------------------------------------------------------

    async def rules(self, project_id: int) -> list[ImmutabilityRule]:
        t = immutability_rules
        q = select(t).where(t.c.project_id == project_id).order_by(t.c.id)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            ImmutabilityRule(
                int(r.id), int(r.project_id), r.repository, r.tag, r.created_by, utc(r.created_at)
            )
            for r in rows
        ]

    async def add_rule(
        self, project_id: int, repository: str, tag: str, actor: str
    ) -> ImmutabilityRule:
        t = immutability_rules
        at = utcnow()
        try:
            async with self._write.begin() as conn:
                held = await conn.scalar(
                    select(func.count()).select_from(t).where(t.c.project_id == project_id)
                )
                if int(held or 0) >= MAX_IMMUTABILITY_RULES:
                    raise Conflict(
                        f"a project holds at most {MAX_IMMUTABILITY_RULES} immutability rules"
                    )
                rid = await conn.scalar(
                    t.insert()
                    .values(
                        project_id=project_id,
                        repository=repository,
                        tag=tag,
                        created_by=actor,
                        created_at=at,
                    )
                    .returning(t.c.id)
                )
        except IntegrityError:
            raise Conflict(
                f"an immutability rule for {repository}:{tag} exists already in this project"
            ) from None
        return ImmutabilityRule(int(rid), project_id, repository, tag, actor, at)

    async def remove_rule(self, project_id: int, rule_id: int) -> bool:
        t = immutability_rules
        async with self._write.begin() as conn:
            res = await conn.execute(
                delete(t).where(t.c.project_id == project_id, t.c.id == rule_id)
            )
        return bool(res.rowcount)

    # -- retention policies ---------------------------------------------------------

    async def policy(self, project_id: int) -> StoredPolicy | None:
        t = retention_policies
        async with self._read.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.project_id == project_id))).first()
        if row is None:
            return None
        policy = RetentionPolicy.model_validate_json(row.policy)
        return StoredPolicy(policy, row.updated_by, utc(row.updated_at))

    async def put_policy(
        self, project_id: int, policy: RetentionPolicy, actor: str
    ) -> StoredPolicy:
        t = retention_policies
        at = utcnow()
        text = json.dumps(policy.model_dump(mode="json"), separators=(",", ":"))
        module = postgresql if self._write.dialect.name == "postgresql" else sqlite
        stmt = module.insert(t).values(
            project_id=project_id, policy=text, updated_by=actor, updated_at=at
        )
        async with self._write.begin() as conn:  # one statement: two PUTs at once both land
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["project_id"],
                    set_={"policy": text, "updated_by": actor, "updated_at": at},
                )
            )
        return StoredPolicy(policy, actor, at)

    async def delete_policy(self, project_id: int) -> bool:
        t = retention_policies
        async with self._write.begin() as conn:
            res = await conn.execute(delete(t).where(t.c.project_id == project_id))
        return bool(res.rowcount)

    async def projects_with_policies(self) -> list[str]:
        t, p = retention_policies, s.projects
        q = select(p.c.name).join(t, t.c.project_id == p.c.id).order_by(p.c.name)
        async with self._read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    # -- the inventory retention evaluates -----------------------------------------

    async def repositories(self, project_id: int) -> list[str]:
        r = s.repositories
        q = select(r.c.name).where(r.c.project_id == project_id).order_by(r.c.name)
        async with self._read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def artifacts(self, repository: str) -> list[Artifact]:
        """Every manifest of the repository, with its tags, push and pull times, its
        subject and the children it lists."""
        r, m, t, mr, ap = (
            s.repositories,
            s.manifests,
            s.tags,
            s.manifest_references,
            s.artifact_pulls,
        )
        async with self._read.connect() as conn:
            rid = await conn.scalar(select(r.c.id).where(r.c.name == repository))
            if rid is None:
                return []
            rows = (
                await conn.execute(
                    select(
                        m.c.id,
                        m.c.digest,
                        m.c.media_type,
                        m.c.subject_digest,
                        m.c.created_at,
                        ap.c.pull_count,
                        ap.c.last_pulled_at,
                    )
                    .outerjoin(
                        ap, (ap.c.repository_id == m.c.repository_id) & (ap.c.digest == m.c.digest)
                    )
                    .where(m.c.repository_id == rid)
                )
            ).all()
            tags = (
                await conn.execute(
                    select(t.c.name, t.c.manifest_digest, t.c.updated_at).where(
                        t.c.repository_id == rid
                    )
                )
            ).all()
            refs = (
                await conn.execute(
                    select(mr.c.manifest_id, mr.c.digest)
                    .join(m, m.c.id == mr.c.manifest_id)
                    .where(m.c.repository_id == rid, mr.c.kind == "manifest")
                )
            ).all()
        tagged: dict[str, list[Any]] = {}
        for tag_row in tags:
            tagged.setdefault(tag_row.manifest_digest, []).append(tag_row)
        children: dict[int, list[str]] = {}
        for ref in refs:
            children.setdefault(int(ref.manifest_id), []).append(ref.digest)
        out = []
        for row in rows:
            own = tagged.get(row.digest, [])
            pushed = max([utc(row.created_at), *(utc(t.updated_at) for t in own)])
            out.append(
                Artifact(
                    repository=repository,
                    digest=row.digest,
                    media_type=row.media_type,
                    pushed_at=pushed,
                    tags=tuple(sorted(t.name for t in own)),
                    last_pulled_at=None if row.last_pulled_at is None else utc(row.last_pulled_at),
                    pull_count=int(row.pull_count or 0),
                    subject=row.subject_digest,
                    children=tuple(sorted(children.get(int(row.id), []))),
                )
            )
        return out
