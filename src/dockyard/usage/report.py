"""The dedup report, computed in the database by aggregate queries (no rows come back
but the per-project sums).

- logical bytes: for every manifest, its own size plus the sizes of the blobs it
  references (config, layers) — what a client that pulled every image would download,
  what a registry without deduplication would store. An index counts its own bytes;
  its platforms are manifests of their own and count theirs.
- physical bytes: the distinct blobs those manifests reference, each once (per
  project: once in that project; for the system: once at all), plus the manifests'
  own bytes (a manifest is a row of its repository).
- stored bytes (system): every blob held, referenced or not; `unreferenced` is what
  garbage collection has yet to reclaim (uploads not yet used, content of deleted
  manifests inside the grace period).

The saved bytes of a project count what its images share inside it; the system's
also what projects share with each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from dockyard.metadata import schema as s
from dockyard.metadata.engine import HasEngines, utcnow

UNASSIGNED = ""
"""the project name reported for repositories outside any project"""


@dataclass(frozen=True, slots=True)
class Usage:
    logical_bytes: int
    physical_bytes: int
    manifests: int
    blobs: int

    @property
    def saved_bytes(self) -> int:
        return max(0, self.logical_bytes - self.physical_bytes)

    @property
    def ratio(self) -> float:
        """logical ÷ physical (1.0 for an empty registry)"""
        return self.logical_bytes / self.physical_bytes if self.physical_bytes else 1.0

    def public(self) -> dict[str, Any]:
        return {
            "logical_bytes": self.logical_bytes,
            "physical_bytes": self.physical_bytes,
            "saved_bytes": self.saved_bytes,
            "ratio": round(self.ratio, 4),
            "manifests": self.manifests,
            "blobs": self.blobs,
        }


@dataclass(frozen=True, slots=True)
class Report:
    system: Usage
    stored_bytes: int
    stored_blobs: int
    referenced_blob_bytes: int
    projects: dict[str, Usage]
    computed_at: dt.datetime

    @property
    def unreferenced_bytes(self) -> int:
        """blobs held that no manifest references (garbage collection's next work)"""
        return max(0, self.stored_bytes - self.referenced_blob_bytes)


def _project_name() -> Any:
    return func.coalesce(s.projects.c.name, UNASSIGNED)


async def compute(engines: HasEngines) -> Report:
    m, r, b, repos, p = s.manifests, s.manifest_references, s.blobs, s.repositories, s.projects
    project_of = repos.outerjoin(p, p.c.id == repos.c.project_id)
    per_manifest = (
        select(
            _project_name().label("project"),
            func.count(m.c.id).label("manifests"),
            func.coalesce(func.sum(m.c.size), 0).label("bytes"),
        )
        .select_from(m.join(project_of, repos.c.id == m.c.repository_id))
        .group_by(p.c.name)
    )
    logical_blobs = (
        select(
            _project_name().label("project"),
            func.coalesce(func.sum(b.c.size), 0).label("bytes"),
        )
        .select_from(
            r.join(m, m.c.id == r.c.manifest_id)
            .join(project_of, repos.c.id == m.c.repository_id)
            .join(b, b.c.digest == r.c.digest)
        )
        .where(r.c.kind == "blob")
        .group_by(p.c.name)
    )
    project_blobs = (
        select(_project_name().label("project"), r.c.digest.label("digest"))
        .select_from(
            r.join(m, m.c.id == r.c.manifest_id).join(project_of, repos.c.id == m.c.repository_id)
        )
        .where(r.c.kind == "blob")
        .distinct()
        .subquery()
    )
    physical_blobs = (
        select(
            project_blobs.c.project,
            func.count().label("blobs"),
            func.coalesce(func.sum(b.c.size), 0).label("bytes"),
        )
        .select_from(project_blobs.join(b, b.c.digest == project_blobs.c.digest))
        .group_by(project_blobs.c.project)
    )
    referenced = select(r.c.digest.label("digest")).where(r.c.kind == "blob").distinct().subquery()
    system_blobs = select(func.count(), func.coalesce(func.sum(b.c.size), 0)).select_from(
        referenced.join(b, b.c.digest == referenced.c.digest)
    )
    stored = select(func.count(), func.coalesce(func.sum(b.c.size), 0)).select_from(b)

    async with engines.read_engine.connect() as conn:
        manifests = {
            row.project: (int(row.manifests), int(row.bytes))
            for row in await conn.execute(per_manifest)
        }
        logical = {row.project: int(row.bytes) for row in await conn.execute(logical_blobs)}
        physical = {
            row.project: (int(row.blobs), int(row.bytes))
            for row in await conn.execute(physical_blobs)
        }
        system_count, system_bytes = (await conn.execute(system_blobs)).one()
        stored_count, stored_bytes = (await conn.execute(stored)).one()

    projects: dict[str, Usage] = {}
    for name in sorted(set(manifests) | set(physical)):
        count, own = manifests.get(name, (0, 0))
        blobs, blob_bytes = physical.get(name, (0, 0))
        projects[name] = Usage(
            logical_bytes=own + logical.get(name, 0),
            physical_bytes=own + blob_bytes,
            manifests=count,
            blobs=blobs,
        )
    manifest_bytes = sum(own for _, own in manifests.values())
    system = Usage(
        logical_bytes=manifest_bytes + sum(logical.values()),
        physical_bytes=manifest_bytes + int(system_bytes),
        manifests=sum(c for c, _ in manifests.values()),
        blobs=int(system_count),
    )
    return Report(
        system=system,
        stored_bytes=int(stored_bytes),
        stored_blobs=int(stored_count),
        referenced_blob_bytes=int(system_bytes),
        projects=projects,
        computed_at=utcnow(),
    )
