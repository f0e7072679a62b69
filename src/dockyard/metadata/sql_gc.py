"""GcStore on SQLAlchemy (SQLite and PostgreSQL): the reference queries GC and fsck
read on the pool, and the guarded deletes they run on the writer, each one short
transaction (a batch) that checks its condition again under row locks.

Why the locks (PostgreSQL, READ COMMITTED): a plain `DELETE … WHERE NOT EXISTS
(reference)` sees the snapshot its statement began with, so a manifest PUT that
checked a link and commits its references while the DELETE waits would be missed
(write skew) and the manifest would reference a link, later a blob, that is gone.
So each sweep first locks its candidate rows (`SELECT … FOR UPDATE`, waiting for
the pushes that hold them: sql_manifest_writes takes FOR SHARE on what a manifest relies on,
and upserts what an upload links), then decides in a second statement, whose
fresh snapshot sees every push that committed; a push that comes later waits on
the lock and then finds the row gone (or claimed) and acts on that. SQLite runs
one writer at a time: the same statements are already serial there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case, delete, exists, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata import schema as s
from dockyard.metadata import sql_manifest_writes as mw
from dockyard.metadata import sql_writes as w
from dockyard.metadata.gc import BlobRow, DanglingRef, GcRun, LinkRef, ManifestRef
from dockyard.metadata.sql import _utc
from dockyard.metadata.writer import Writer

r, p, rb, b, m, mr, t = (
    s.repositories,
    s.projects,
    s.repository_blobs,
    s.blobs,
    s.manifests,
    s.manifest_references,
    s.tags,
)
CHUNK = 500  # values in one IN list


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(value: Any) -> dt.datetime:
    out = _utc(value)
    assert out is not None
    return out


def _chunks(items: Sequence[Any], n: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def _blob_row(row: Any) -> BlobRow:
    return BlobRow(
        row.digest,
        int(row.size),
        _ts(row.touched_at or row.created_at),
        row.deleting_since is not None,
        bool(row.linked),
    )


def _link_referenced() -> Any:
    """A manifest of the link's repository references the link's blob."""
    return exists(
        select(mr.c.manifest_id)
        .select_from(mr.join(m, m.c.id == mr.c.manifest_id))
        .where(m.c.repository_id == rb.c.repository_id, mr.c.digest == rb.c.digest)
    )


def _blob_linked() -> Any:
    return exists(select(rb.c.digest).where(rb.c.digest == b.c.digest))


def _blob_referenced() -> Any:
    return exists(select(mr.c.digest).where(mr.c.digest == b.c.digest, mr.c.kind == "blob"))


def _locks(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# -- write transactions (run on the writer) ------------------------------------------


def _delete_manifests(
    conn: Connection, cands: Sequence[ManifestRef], cutoff: dt.datetime
) -> list[ManifestRef]:
    """Delete the candidates still dead, parents before children (the transaction sees
    its own deletes, so a child whose only parent went is taken on the next round)."""
    remaining = {c.id: c for c in cands}
    if _locks(conn):
        conn.execute(select(m.c.id).where(m.c.id.in_(list(remaining))).with_for_update())
    m2 = m.alias("parent")
    s2 = m.alias("subject")
    tagged = exists(
        select(t.c.name).where(
            t.c.repository_id == m.c.repository_id, t.c.manifest_digest == m.c.digest
        )
    )
    child = exists(
        select(mr.c.manifest_id)
        .select_from(mr.join(m2, m2.c.id == mr.c.manifest_id))
        .where(
            m2.c.repository_id == m.c.repository_id,
            mr.c.digest == m.c.digest,
            mr.c.kind == "manifest",
        )
    )
    subject_tagged = exists(
        select(s2.c.id)
        .select_from(
            s2.join(
                t, (t.c.repository_id == s2.c.repository_id) & (t.c.manifest_digest == s2.c.digest)
            )
        )
        .where(s2.c.repository_id == m.c.repository_id, s2.c.digest == m.c.subject_digest)
    )
    deleted: list[ManifestRef] = []
    while remaining:
        dead = list(
            conn.scalars(
                select(m.c.id).where(
                    m.c.id.in_(list(remaining)),
                    m.c.created_at < cutoff,
                    ~tagged,
                    ~child,
                    ~subject_tagged,
                )
            )
        )
        if not dead:
            break
        for mid in dead:
            c = remaining.pop(int(mid))
            if mw.delete_manifest(conn, c.repository, c.digest, actor="gc"):
                deleted.append(c)
    return deleted


def _drop_links(conn: Connection, links: Sequence[LinkRef], cutoff: dt.datetime) -> list[LinkRef]:
    keys = [(link.repository_id, link.digest) for link in links]
    cond = tuple_(rb.c.repository_id, rb.c.digest).in_(keys)
    if _locks(conn):
        conn.execute(select(rb.c.repository_id).where(cond).with_for_update())
    dropped = conn.execute(
        delete(rb)
        .where(cond, rb.c.touched_at < cutoff, ~_link_referenced())
        .returning(rb.c.repository_id, rb.c.digest)
    ).all()
    if not dropped:
        return []
    sizes = {(link.repository_id, link.digest): link.size for link in links}
    out = [LinkRef(int(row[0]), row[1], sizes[(int(row[0]), row[1])]) for row in dropped]
    _release_blobs(conn, out)
    return out


def _release_blobs(conn: Connection, links: Sequence[LinkRef]) -> None:
    """Give the bytes of dropped links back to their projects, each digest once, when no
    other repository of the project links it any more (the quota rule of sql_writes)."""
    rids = sorted({link.repository_id for link in links})
    project_of = {
        int(row[0]): row[1]
        for row in conn.execute(select(r.c.id, r.c.project_id).where(r.c.id.in_(rids))).all()
    }
    by_project: dict[int, dict[str, int]] = defaultdict(dict)
    for link in links:
        pid = project_of.get(link.repository_id)
        if pid is not None:
            by_project[int(pid)][link.digest] = link.size
    for pid, sizes in sorted(by_project.items()):
        if _locks(conn):  # as _charge does: pushes into the project count one at a time
            conn.execute(select(p.c.id).where(p.c.id == pid).with_for_update())
        held = set(
            conn.scalars(
                select(rb.c.digest)
                .join(r, r.c.id == rb.c.repository_id)
                .where(r.c.project_id == pid, rb.c.digest.in_(list(sizes)))
            )
        )
        freed = sum(size for digest, size in sizes.items() if digest not in held)
        if freed:
            conn.execute(
                update(p)
                .where(p.c.id == pid)
                .values(used_bytes=case((p.c.used_bytes > freed, p.c.used_bytes - freed), else_=0))
            )


def _claim_blobs(conn: Connection, digests: Sequence[str], cutoff: dt.datetime) -> list[LinkRef]:
    cond = b.c.digest.in_(list(digests))
    if _locks(conn):
        conn.execute(select(b.c.digest).where(cond, b.c.deleting_since.is_(None)).with_for_update())
    rows = conn.execute(
        update(b)
        .where(
            cond,
            b.c.deleting_since.is_(None),
            b.c.touched_at < cutoff,
            ~_blob_linked(),
            ~_blob_referenced(),
        )
        .values(deleting_since=_now())
        .returning(b.c.digest, b.c.size)
    ).all()
    return [LinkRef(0, row[0], int(row[1])) for row in rows]


def _forget_blobs(conn: Connection, digests: Sequence[str]) -> int:
    res = conn.execute(
        delete(b).where(b.c.digest.in_(list(digests)), b.c.deleting_since.is_not(None))
    )
    return int(res.rowcount or 0)


def _claim_orphan(conn: Connection, digest: str, size: int) -> bool:
    at = _now()
    got = conn.scalar(
        w.insert(conn, b)
        .values(digest=digest, size=size, created_at=at, touched_at=at, deleting_since=at)
        .on_conflict_do_nothing(index_elements=["digest"])
        .returning(b.c.digest)
    )
    return got is not None


def _forget_unlinked_blob(conn: Connection, digest: str) -> bool:
    if _locks(conn):
        conn.execute(select(b.c.digest).where(b.c.digest == digest).with_for_update())
    res = conn.execute(delete(b).where(b.c.digest == digest, ~_blob_linked(), ~_blob_referenced()))
    return bool(res.rowcount)


def _start_run(conn: Connection, trigger: str, dry_run: bool, options: str) -> int:
    rid = conn.scalar(
        insert(s.gc_runs)
        .values(
            started_at=_now(), state="running", dry_run=dry_run, trigger=trigger, options=options
        )
        .returning(s.gc_runs.c.id)
    )
    assert rid is not None
    return int(rid)


def _update_run(
    conn: Connection, run_id: int, report: str, state: str | None, error: str | None
) -> None:
    values: dict[str, Any] = {"report": report}
    if state is not None:
        values["state"] = state
        values["finished_at"] = _now()
    if error is not None:
        values["error"] = error
    conn.execute(update(s.gc_runs).where(s.gc_runs.c.id == run_id).values(**values))


class SqlGcStore:
    def __init__(self, read: AsyncEngine, writer: Writer) -> None:
        self._read = read
        self._writer = writer

    # -- mark ---------------------------------------------------------------------

    async def dead_manifests(self, cutoff: dt.datetime) -> list[ManifestRef]:
        q = select(
            m.c.id,
            m.c.repository_id,
            r.c.name,
            m.c.digest,
            m.c.size,
            m.c.subject_digest,
            m.c.created_at,
        ).join(r, r.c.id == m.c.repository_id)
        children_q = select(mr.c.manifest_id, mr.c.digest).where(mr.c.kind == "manifest")
        tags_q = select(t.c.repository_id, t.c.manifest_digest).distinct()
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
            child_rows = (await conn.execute(children_q)).all()
            tagged = {(int(rid), d) for rid, d in (await conn.execute(tags_q)).all()}
        by_key = {(row.repository_id, row.digest): row for row in rows}
        by_id = {row.id: row for row in rows}
        children: dict[int, list[str]] = defaultdict(list)
        for mid, digest in child_rows:
            children[mid].append(digest)
        referrers: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in rows:
            if row.subject_digest:
                referrers[(row.repository_id, row.subject_digest)].append(row.id)
        live: set[int] = set()
        todo = [
            row.id
            for row in rows
            if (row.repository_id, row.digest) in tagged or _ts(row.created_at) >= cutoff
        ]
        while todo:
            mid = todo.pop()
            if mid in live:
                continue
            live.add(mid)
            row = by_id[mid]
            for digest in children.get(mid, ()):
                child = by_key.get((row.repository_id, digest))
                if child is not None and child.id not in live:
                    todo.append(child.id)
            todo.extend(
                i for i in referrers.get((row.repository_id, row.digest), ()) if i not in live
            )
        # indexes first: the manifests an index lists go after it (delete_manifests
        # takes what is left on another round)
        dead = sorted(
            (row for row in rows if row.id not in live),
            key=lambda row: (row.id not in children, row.id),
        )
        return [
            ManifestRef(row.id, row.repository_id, row.name, row.digest, int(row.size))
            for row in dead
        ]

    async def unreferenced_links(
        self, cutoff: dt.datetime, after: tuple[int, str] | None, limit: int
    ) -> list[LinkRef]:
        q = (
            select(rb.c.repository_id, rb.c.digest, b.c.size)
            .join(b, b.c.digest == rb.c.digest)
            .where(rb.c.touched_at < cutoff, ~_link_referenced())
            .order_by(rb.c.repository_id, rb.c.digest)
            .limit(limit)
        )
        if after is not None:
            q = q.where(
                (rb.c.repository_id > after[0])
                | ((rb.c.repository_id == after[0]) & (rb.c.digest > after[1]))
            )
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [LinkRef(int(row[0]), row[1], int(row[2])) for row in rows]

    async def links_only_of(
        self, manifest_ids: Sequence[int], cutoff: dt.datetime
    ) -> list[LinkRef]:
        doomed = set(manifest_ids)
        keys: set[tuple[int, str]] = set()
        referrers: dict[tuple[int, str], set[int]] = defaultdict(set)
        sizes: dict[tuple[int, str], int] = {}
        async with self._read.connect() as conn:
            for ids in _chunks(sorted(doomed)):
                q = (
                    select(rb.c.repository_id, rb.c.digest)
                    .select_from(
                        mr.join(m, m.c.id == mr.c.manifest_id).join(
                            rb,
                            (rb.c.repository_id == m.c.repository_id)
                            & (rb.c.digest == mr.c.digest),
                        )
                    )
                    .where(mr.c.manifest_id.in_(ids), rb.c.touched_at < cutoff)
                )
                keys.update((int(rid), d) for rid, d in (await conn.execute(q)).all())
            for part in _chunks(sorted(keys)):
                q = (
                    select(m.c.repository_id, mr.c.digest, mr.c.manifest_id, b.c.size)
                    .join(m, m.c.id == mr.c.manifest_id)
                    .join(b, b.c.digest == mr.c.digest)
                    .where(tuple_(m.c.repository_id, mr.c.digest).in_(list(part)))
                )
                for row in (await conn.execute(q)).all():
                    key = (int(row[0]), str(row[1]))
                    referrers[key].add(int(row[2]))
                    sizes[key] = int(row[3])
        return [
            LinkRef(rid, digest, sizes[(rid, digest)])
            for rid, digest in sorted(keys)
            if (rid, digest) in sizes and referrers[(rid, digest)] <= doomed
        ]

    async def unlinked_blobs(
        self, cutoff: dt.datetime, after: str | None, limit: int
    ) -> list[LinkRef]:
        q = (
            select(b.c.digest, b.c.size)
            .where(
                b.c.deleting_since.is_(None),
                b.c.touched_at < cutoff,
                ~_blob_linked(),
                ~_blob_referenced(),
            )
            .order_by(b.c.digest)
            .limit(limit)
        )
        if after is not None:
            q = q.where(b.c.digest > after)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [LinkRef(0, row[0], int(row[1])) for row in rows]

    async def blobs_only_in(self, links: Sequence[LinkRef]) -> list[LinkRef]:
        going: dict[str, set[int]] = defaultdict(set)
        sizes: dict[str, int] = {}
        for link in links:
            going[link.digest].add(link.repository_id)
            sizes[link.digest] = link.size
        out = []
        async with self._read.connect() as conn:
            for part in _chunks(list(going)):
                q = (
                    select(rb.c.digest, func.count())
                    .where(rb.c.digest.in_(part))
                    .group_by(rb.c.digest)
                )
                for digest, count in (await conn.execute(q)).all():
                    if int(count) <= len(going[digest]):
                        out.append(LinkRef(0, digest, sizes[digest]))
        return out

    # -- sweep --------------------------------------------------------------------

    async def delete_manifests(
        self, manifests: Sequence[ManifestRef], cutoff: dt.datetime
    ) -> list[ManifestRef]:
        if not manifests:
            return []
        return await self._writer.run(_delete_manifests, list(manifests), cutoff)

    async def drop_links(self, links: Sequence[LinkRef], cutoff: dt.datetime) -> list[LinkRef]:
        if not links:
            return []
        return await self._writer.run(_drop_links, list(links), cutoff)

    async def claim_blobs(self, digests: Sequence[str], cutoff: dt.datetime) -> list[LinkRef]:
        if not digests:
            return []
        return await self._writer.run(_claim_blobs, list(digests), cutoff)

    async def claimed_blobs(self) -> list[LinkRef]:
        q = select(b.c.digest, b.c.size).where(b.c.deleting_since.is_not(None)).order_by(b.c.digest)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [LinkRef(0, row[0], int(row[1])) for row in rows]

    async def forget_blobs(self, digests: Sequence[str]) -> int:
        if not digests:
            return 0
        return await self._writer.run(_forget_blobs, list(digests))

    async def claim_orphan(self, digest: str, size: int) -> bool:
        return await self._writer.run(_claim_orphan, digest, size)

    # -- fsck ---------------------------------------------------------------------

    async def blob_rows(self) -> AsyncIterator[BlobRow]:
        after = ""
        while True:
            q = (
                select(b.c.digest, b.c.size, b.c.touched_at, b.c.created_at, b.c.deleting_since)
                .add_columns(_blob_linked().label("linked"))
                .where(b.c.digest > after)
                .order_by(b.c.digest)
                .limit(2000)
            )
            async with self._read.connect() as conn:
                rows = (await conn.execute(q)).all()
            if not rows:
                return
            for row in rows:
                yield _blob_row(row)
            after = rows[-1].digest

    async def blob_state(self, digest: str) -> BlobRow | None:
        q = (
            select(b.c.digest, b.c.size, b.c.touched_at, b.c.created_at, b.c.deleting_since)
            .add_columns(_blob_linked().label("linked"))
            .where(b.c.digest == digest)
        )
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else _blob_row(row)

    async def dangling_references(self) -> list[DanglingRef]:
        linked = exists(
            select(rb.c.digest).where(
                rb.c.repository_id == m.c.repository_id, rb.c.digest == mr.c.digest
            )
        )
        q = (
            select(r.c.name, m.c.digest, mr.c.digest, b.c.digest, b.c.deleting_since)
            .add_columns(linked.label("linked"))
            .select_from(
                mr.join(m, m.c.id == mr.c.manifest_id)
                .join(r, r.c.id == m.c.repository_id)
                .outerjoin(b, b.c.digest == mr.c.digest)
            )
            .where(mr.c.kind == "blob")
            .where((b.c.digest.is_(None)) | (b.c.deleting_since.is_not(None)) | ~linked)
            .order_by(r.c.name, m.c.digest, mr.c.digest)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        out = []
        for repo, manifest, digest, row_digest, deleting, is_linked in rows:
            if row_digest is None:
                problem = "no blob row"
            elif deleting is not None:
                problem = "blob being deleted"
            else:
                problem = "not linked"
            del is_linked
            out.append(DanglingRef(repo, manifest, digest, problem))
        return out

    async def forget_unlinked_blob(self, digest: str) -> bool:
        return await self._writer.run(_forget_unlinked_blob, digest)

    # -- runs ---------------------------------------------------------------------

    async def start_run(self, trigger: str, dry_run: bool, options: Mapping[str, Any]) -> int:
        return await self._writer.run(_start_run, trigger, dry_run, json.dumps(dict(options)))

    async def update_run(
        self,
        run_id: int,
        report: Mapping[str, Any],
        *,
        state: str | None = None,
        error: str | None = None,
    ) -> None:
        await self._writer.run(_update_run, run_id, json.dumps(dict(report)), state, error)

    async def runs(self, limit: int) -> list[GcRun]:
        g = s.gc_runs
        q = select(g).order_by(g.c.id.desc()).limit(limit)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            GcRun(
                id=int(row.id),
                started_at=_ts(row.started_at),
                finished_at=_utc(row.finished_at),
                state=row.state,
                dry_run=bool(row.dry_run),
                trigger=row.trigger,
                options=json.loads(row.options),
                report=json.loads(row.report) if row.report else None,
                error=row.error,
            )
            for row in rows
        ]
