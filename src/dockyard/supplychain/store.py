"""The capability's SQL: policies (per project and the system default), the SBOM index
and scan reports (its own tables), and the few reads of the core's tables the pull
policies need on a cache miss (an index's parents, where a digest lives).

It runs on the metadata store's engines (services.store): reads on the reader, writes
on the writer, as the identity stores do.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.events import SCAN_COMPLETED, NewEvent
from dockyard.events.outbox import write_events
from dockyard.metadata import schema as s
from dockyard.metadata.engine import HasEngines, utc, utcnow
from dockyard.supplychain.codec import (
    pack_contents,
    pack_findings,
    summary_of,
    unpack_contents,
    unpack_findings,
)
from dockyard.supplychain.model import Finding, ImageContents
from dockyard.supplychain.policy import SupplyChainPolicy
from dockyard.supplychain.tables import project_policies, sboms, scan_reports, system_policy


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    policy: SupplyChainPolicy
    updated_by: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredSbom:
    digest: str
    repository: str
    source: str
    document_digest: str | None
    format: str
    package_count: int
    created_at: dt.datetime
    contents: ImageContents


@dataclass(frozen=True, slots=True)
class StoredReport:
    digest: str
    scanner: str
    status: str
    db_generation: int | None
    summary: dict[str, int]
    findings: list[Finding]
    error: str | None
    scanned_at: dt.datetime


class SupplyChainStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    def _insert(self) -> type[postgresql.Insert] | type[sqlite.Insert]:
        return postgresql.Insert if self._write.dialect.name == "postgresql" else sqlite.Insert

    # -- policies ---------------------------------------------------------------

    async def policy(self, project_id: int | None) -> StoredPolicy | None:
        """A project's own policy (None: it inherits), or the system default (project_id
        None; None when never set)."""
        if project_id is None:
            q = select(system_policy).where(system_policy.c.id == 1)
        else:
            q = select(project_policies).where(project_policies.c.project_id == project_id)
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            return None
        return StoredPolicy(
            SupplyChainPolicy.model_validate_json(row.policy), row.updated_by, utc(row.updated_at)
        )

    async def put_policy(
        self, project_id: int | None, policy: SupplyChainPolicy, actor: str
    ) -> StoredPolicy:
        at = utcnow()
        text = json.dumps(policy.model_dump(mode="json"), separators=(",", ":"))
        values = {"policy": text, "updated_by": actor, "updated_at": at}
        if project_id is None:
            table, key = system_policy, {"id": 1}
        else:
            table, key = project_policies, {"project_id": project_id}
        insert = self._insert()(table).values(**key, **values)
        async with self._write.begin() as conn:
            await conn.execute(insert.on_conflict_do_update(index_elements=list(key), set_=values))
        return StoredPolicy(policy, actor, at)

    async def delete_policy(self, project_id: int) -> bool:
        t = project_policies
        async with self._write.begin() as conn:
            res = await conn.execute(delete(t).where(t.c.project_id == project_id))
        return bool(res.rowcount)

    # -- the core's tables, read on a verdict cache miss ---------------------------

    async def parents(self, repository: str, digest: str) -> list[str]:
        """The indexes of `repository` that list `digest` as a child."""
        r, m, mr = s.repositories, s.manifests, s.manifest_references
        q = (
            select(m.c.digest)
            .join(mr, mr.c.manifest_id == m.c.id)
            .join(r, r.c.id == m.c.repository_id)
            .where(r.c.name == repository, mr.c.digest == digest, mr.c.kind == "manifest")
            .order_by(m.c.digest)
            .limit(16)
        )
        async with self._read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def repositories_holding(self, digest: str) -> list[str]:
        r, m = s.repositories, s.manifests
        q = (
            select(r.c.name)
            .join(m, m.c.repository_id == r.c.id)
            .where(m.c.digest == digest)
            .distinct()
        )
        async with self._read.connect() as conn:
            return sorted((await conn.execute(q)).scalars())

    # -- SBOMs ----------------------------------------------------------------------

    async def sbom(self, digest: str) -> StoredSbom | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(sboms).where(sboms.c.digest == digest))).first()
        if row is None:
            return None
        return StoredSbom(
            row.digest,
            row.repository,
            row.source,
            row.document_digest,
            row.format,
            int(row.package_count),
            utc(row.created_at),
            unpack_contents(row.contents),
        )

    async def put_sbom(
        self,
        digest: str,
        repository: str,
        source: str,
        document_digest: str | None,
        fmt: str,
        contents: ImageContents,
    ) -> None:
        values = {
            "repository": repository,
            "source": source,
            "document_digest": document_digest,
            "format": fmt,
            "package_count": len(contents.packages),
            "contents": pack_contents(contents),
            "created_at": utcnow(),
        }
        insert = self._insert()(sboms).values(digest=digest, **values)
        async with self._write.begin() as conn:
            await conn.execute(insert.on_conflict_do_update(index_elements=["digest"], set_=values))

    async def all_sboms(
        self, batch: int = 500
    ) -> AsyncIterator[list[tuple[str, str, ImageContents]]]:
        """Every stored SBOM's contents, in batches (for a rematch after a database update)."""
        last = ""
        while True:
            q = (
                select(sboms.c.digest, sboms.c.repository, sboms.c.contents)
                .where(sboms.c.digest > last)
                .order_by(sboms.c.digest)
                .limit(batch)
            )
            async with self._read.connect() as conn:
                rows = (await conn.execute(q)).all()
            if not rows:
                return
            yield [(r.digest, r.repository, unpack_contents(r.contents)) for r in rows]
            last = rows[-1].digest

    # -- scan reports -----------------------------------------------------------------

    async def report(self, digest: str, scanner: str) -> StoredReport | None:
        t = scan_reports
        async with self._read.connect() as conn:
            row = (
                await conn.execute(select(t).where(t.c.digest == digest, t.c.scanner == scanner))
            ).first()
        if row is None:
            return None
        return StoredReport(
            row.digest,
            row.scanner,
            row.status,
            row.db_generation,
            json.loads(row.summary),
            unpack_findings(row.findings),
            row.error,
            utc(row.scanned_at),
        )

    async def reports(self, digest: str) -> list[StoredReport]:
        t = scan_reports
        async with self._read.connect() as conn:
            scanners = list(
                (
                    await conn.execute(
                        select(t.c.scanner).where(t.c.digest == digest).order_by(t.c.scanner)
                    )
                ).scalars()
            )
        out = []
        for scanner in scanners:
            found = await self.report(digest, scanner)
            if found is not None:
                out.append(found)
        return out

    async def put_report(
        self,
        digest: str,
        scanner: str,
        findings: list[Finding],
        db_generation: int | None,
        error: str | None = None,
        repository: str | None = None,
    ) -> bool:
        """Store a report, with its `scan.completed` event in the same transaction; True
        when what it says changed (a new report, other findings, or a status change), so
        the caller knows whether pull verdicts must be dropped."""
        before = await self.report(digest, scanner)
        status = "failed" if error else "succeeded"
        t = scan_reports
        if (
            before is not None
            and before.status == status
            and before.error == error
            and before.findings == findings
        ):  # the same answer: note when and against what it was given, nothing more
            async with self._write.begin() as conn:
                await conn.execute(
                    update(t)
                    .where(t.c.digest == digest, t.c.scanner == scanner)
                    .values(db_generation=db_generation, scanned_at=utcnow())
                )
            return False
        summary = summary_of(findings)
        values = {
            "status": status,
            "db_generation": db_generation,
            "summary": json.dumps(summary),
            "findings": pack_findings(findings),
            "error": error,
            "scanned_at": utcnow(),
        }
        insert = self._insert()(t).values(digest=digest, scanner=scanner, **values)
        event = NewEvent(
            SCAN_COMPLETED,
            repository,
            digest,
            actor=f"job:supplychain.scan/{scanner}",
            detail={"scanner": scanner, "status": status, "summary": summary, "error": error},
        )
        async with self._write.begin() as conn:
            await conn.execute(
                insert.on_conflict_do_update(index_elements=["digest", "scanner"], set_=values)
            )
            await conn.run_sync(write_events, [event])
        return True
