"""The manifest and tag write transactions (plain functions of a synchronous
Connection, as in sql_writes.py, whose plumbing, quota and fence they share): a
manifest push, its delete, a tag delete, each with its event in the same
transaction; and the event of a refused push."""

from __future__ import annotations

from sqlalchemy import Connection, and_, bindparam, delete, select

from dockyard import events as ev
from dockyard.errors import (
    ManifestBlobUnknown,
    ManifestChildUnknown,
    ManifestInvalid,
    QuotaExceeded,
)
from dockyard.events.outbox import write_events
from dockyard.metadata import schema as s
from dockyard.metadata.records import NewManifest
from dockyard.metadata.sql_writes import (
    _charge,
    _manifest_held,
    _prepared,
    _release,
    b,
    ensure_repository,
    insert,
    m,
    now,
    rb,
    repo_id_of,
    repository_id,
)


def _locks(conn: Connection) -> bool:
    """Whether row locks mean anything (PostgreSQL); SQLite has one writer at a time."""
    return conn.dialect.name == "postgresql"


def _check_references(conn: Connection, rid: int, manifest: NewManifest) -> None:
    if manifest.blob_refs:
        wanted = {d for d, _ in manifest.blob_refs}
        q = (
            select(b.c.digest, b.c.size)
            .join(rb, rb.c.digest == b.c.digest)
            .where(rb.c.repository_id == rid, b.c.digest.in_(wanted))
        )
        if _locks(conn):  # held to the commit: GC cannot drop a link this relies on
            q = q.with_for_update(read=True, of=rb)
        rows = conn.execute(q)
        sizes = {row.digest: int(row.size) for row in rows}
        missing = sorted(wanted - sizes.keys())
        if missing:
            raise ManifestBlobUnknown(
                f"blob unknown to registry: {missing[0]}", detail={"digest": missing[0]}
            )
        for digest, size in manifest.blob_refs:
            if sizes[digest] != size:
                raise ManifestInvalid(
                    f"descriptor size {size} does not match blob {digest} ({sizes[digest]})"
                )
    if manifest.child_refs:
        wanted = {d for d, _ in manifest.child_refs}
        q = select(m.c.digest, m.c.size).where(m.c.repository_id == rid, m.c.digest.in_(wanted))
        if _locks(conn):  # nor delete a child manifest this index relies on
            q = q.with_for_update(read=True)
        rows = conn.execute(q)
        sizes = {row.digest: int(row.size) for row in rows}
        missing = sorted(wanted - sizes.keys())
        if missing:
            raise ManifestChildUnknown(
                f"manifest unknown to registry: {missing[0]}", detail={"digest": missing[0]}
            )
        for digest, size in manifest.child_refs:
            if sizes[digest] != size:
                raise ManifestInvalid(
                    f"descriptor size {size} does not match manifest {digest} "
                    f"({sizes[digest]} bytes)"
                )


def put_manifest(
    conn: Connection,
    repository: str,
    manifest: NewManifest,
    tag: str | None,
    actor: str | None = None,
) -> None:
    at = now()
    rid = ensure_repository(conn, repository)
    _check_references(conn, rid, manifest)
    store = (
        insert(conn, m)
        .values(
            repository_id=rid,
            digest=manifest.digest,
            media_type=manifest.media_type,
            artifact_type=manifest.artifact_type,
            subject_digest=manifest.subject_digest,
            annotations=manifest.annotations,
            size=len(manifest.content),
            content=manifest.content,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
        .returning(m.c.id)
    )
    mid = conn.scalar(store)
    if mid is None and _locks(conn):
        # already stored: hold it until the commit, so that GC (deleting untagged
        # manifests) cannot take it from under the tag; gone meanwhile: store it again
        held = select(m.c.id).where(m.c.repository_id == rid, m.c.digest == manifest.digest)
        if conn.scalar(held.with_for_update(read=True)) is None:
            mid = conn.scalar(store)
    if mid is not None:  # new in this repository: its bytes count against the project
        digest = manifest.digest
        _charge(conn, "manifest", rid, digest, len(manifest.content))
        refs = [
            {"manifest_id": mid, "digest": d, "kind": "blob"}
            for d in dict.fromkeys(d for d, _ in manifest.blob_refs)
        ]
        refs += [
            {"manifest_id": mid, "digest": d, "kind": "manifest"}
            for d in dict.fromkeys(d for d, _ in manifest.child_refs)
        ]
        if refs:
            conn.execute(insert(conn, s.manifest_references).on_conflict_do_nothing(), refs)
    previous = None
    if tag is not None:
        t = s.tags
        previous = conn.scalar(
            _prepared(
                conn,
                "tag_digest",
                lambda _: select(t.c.manifest_digest).where(
                    t.c.repository_id == bindparam("rid"), t.c.name == bindparam("tag")
                ),
            ),
            {"rid": rid, "tag": tag},
        )
        if previous != manifest.digest:
            stmt = insert(conn, s.tags).values(
                repository_id=rid, name=tag, manifest_digest=manifest.digest, updated_at=at
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["repository_id", "name"],
                    set_={"manifest_digest": manifest.digest, "updated_at": at},
                )
            )
    if mid is not None or (tag is not None and previous != manifest.digest):
        detail: dict[str, object] = {"size": len(manifest.content)}
        if previous is not None:
            detail["previous"] = previous  # the tag moved
        if manifest.artifact_type:
            detail["artifact_type"] = manifest.artifact_type
        if manifest.subject_digest:
            detail["subject"] = manifest.subject_digest
        write_events(
            conn,
            [
                ev.NewEvent(
                    ev.PUSHED,
                    repository,
                    manifest.digest,
                    tag,
                    manifest.media_type,
                    actor,
                    detail,
                )
            ],
        )


def delete_manifest(
    conn: Connection, repository: str, digest: str, actor: str | None = None
) -> bool:
    rid = repository_id(conn, repository)
    if rid is None:
        return False
    row = conn.execute(
        select(m.c.size, m.c.media_type).where(m.c.repository_id == rid, m.c.digest == digest)
    ).first()
    if row is None:
        return False
    # Tags first: not every backend enforces ON DELETE CASCADE on composite keys alike.
    t = s.tags
    tags = list(
        conn.scalars(
            delete(t)
            .where(t.c.repository_id == rid, t.c.manifest_digest == digest)
            .returning(t.c.name)
        )
    )
    res = conn.execute(delete(m).where(and_(m.c.repository_id == rid, m.c.digest == digest)))
    if not res.rowcount:
        return False
    _release(conn, rid, int(row.size), lambda pid: _manifest_held(pid, rid, digest))
    event = ev.NewEvent(
        ev.DELETED, repository, digest, None, row.media_type, actor, {"tags": sorted(tags)}
    )
    write_events(conn, [event])
    return True


def delete_tag(conn: Connection, repository: str, tag: str, actor: str | None = None) -> bool:
    t = s.tags
    digest = conn.scalar(
        delete(t)
        .where(t.c.repository_id == repo_id_of(repository), t.c.name == tag)
        .returning(t.c.manifest_digest)
    )
    if digest is None:
        return False
    write_events(conn, [ev.NewEvent(ev.TAG_DELETED, repository, digest, tag, actor=actor)])
    return True


def quota_refused(conn: Connection, repository: str, error: QuotaExceeded) -> None:
    """The event of a refused push, in a transaction of its own (the refused one was
    rolled back)."""
    detail = dict(error.detail or {})
    write_events(conn, [ev.NewEvent(ev.QUOTA_EXCEEDED, repository, detail=detail)])
