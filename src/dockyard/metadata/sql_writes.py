"""The registry's write transactions, as plain functions of a synchronous Connection.

Each public function here is one whole transaction, run by metadata/writer.py (on
SQLite in the writer thread, group-committed; on PostgreSQL through run_sync). They
are written to do as few statements as the answer needs: a push is a handful of
statements, not a few dozen.

Quota: a project's `used_bytes` counts each blob digest and each manifest digest once,
however many of its repositories hold it; it is charged when the first repository of
the project links it (refused with QuotaExceeded if that would pass the quota) and
released when the last one lets go.

GC (lifecycle/gc, its statements in metadata/sql_gc.py) runs while these do. The
fence, which docs/gc.md argues for: every write that is about to rely on a blob's
bytes touches its row first (`_pin`, in the quota check before the bytes are
placed; `_link`, which refreshes the link too), and refuses a row a GC pass has
claimed (`deleting_since`) with BlobBusy; GC claims only rows untouched for its
grace period, after locking them, in a statement that sees every committed link.
A manifest PUT holds shared locks on the links and child manifests it checked, so
GC cannot drop one between the check and the commit (READ COMMITTED write skew).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.errors import (
    BlobBusy,
    QuotaExceeded,
)
from dockyard.metadata import schema as s

r, p, rb, b, m, u = (
    s.repositories,
    s.projects,
    s.repository_blobs,
    s.blobs,
    s.manifests,
    s.uploads,
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def insert(conn: Connection, table: Any) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


_PREPARED: dict[tuple[str, str], Any] = {}


def _prepared(conn: Connection, key: str, build: Any) -> Any:
    """A statement built once per dialect, its values bound at execution: building a
    statement and its cache key costs ~4x what SQLite takes to run it."""
    k = (conn.dialect.name, key)
    stmt = _PREPARED.get(k)
    if stmt is None:
        stmt = _PREPARED[k] = build(lambda table: insert(conn, table))
    return stmt


def _repo_id_param() -> Any:
    return select(r.c.id).where(r.c.name == bindparam("repo")).scalar_subquery()


def repo_id_of(name: str) -> Any:
    return select(r.c.id).where(r.c.name == name).scalar_subquery()


def repository_id(conn: Connection, name: str) -> int | None:
    q = _prepared(conn, "repo_id", lambda _: select(r.c.id).where(r.c.name == bindparam("repo")))
    rid = conn.scalar(q, {"repo": name})
    return None if rid is None else int(rid)


def ensure_repository(conn: Connection, name: str) -> int:
    rid = repository_id(conn, name)
    if rid is not None:
        return rid
    # Authorization decided before this point whether the project may come into being.
    project = name.split("/", 1)[0]
    at = now()
    conn.execute(
        insert(conn, p)
        .values(name=project, public=False, used_bytes=0, created_at=at, updated_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    pid = conn.scalar(select(p.c.id).where(p.c.name == project))
    rid = conn.scalar(
        insert(conn, r)
        .values(name=name, created_at=at, project_id=pid)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(r.c.id)
    )
    if rid is None:  # a concurrent writer (another process) made it first
        rid = repository_id(conn, name)
    assert rid is not None
    return int(rid)


# -- quota ---------------------------------------------------------------------------


def _blob_held(pid: Any, rid: Any, digest: Any) -> Any:
    """Another repository of project `pid` links the blob."""
    return exists(
        select(rb.c.digest)
        .join(r, r.c.id == rb.c.repository_id)
        .where(r.c.project_id == pid, rb.c.digest == digest, rb.c.repository_id != rid)
    )


def _manifest_held(pid: Any, rid: Any, digest: Any) -> Any:
    """Another repository of project `pid` holds the manifest."""
    return exists(
        select(m.c.id)
        .join(r, r.c.id == m.c.repository_id)
        .where(r.c.project_id == pid, m.c.digest == digest, m.c.repository_id != rid)
    )


def quota_error(name: str, quota: int, used: int, size: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"project {name!r} quota exceeded: storing {size} more bytes would "
        f"use {used + size} of its {quota} bytes",
        detail={
            "project": name,
            "quota_bytes": quota,
            "used_bytes": used,
            "requested_bytes": size,
        },
    )


_HELD: dict[str, Callable[[Any, Any, Any], Any]] = {
    "blob": _blob_held,
    "manifest": _manifest_held,
}


def _charge(conn: Connection, kind: str, rid: int, digest: str, size: int) -> None:
    """Count `size` bytes against the project of repository `rid`, unless `held(pid)`
    says another of its repositories already holds the content; refuse them past the
    quota. On PostgreSQL the project row is locked first, so concurrent pushes into one
    project count one at a time (the UPDATE, a later statement, sees what they did);
    on SQLite the write lock is the whole database already. The usual case, charged
    and within the quota, is that one UPDATE."""
    held = _HELD[kind]
    pid = select(r.c.project_id).where(r.c.id == rid).scalar_subquery()
    if conn.dialect.name == "postgresql":
        conn.execute(select(p.c.id).where(p.c.id == pid).with_for_update())

    def build(_: Any) -> Any:
        project_of = select(r.c.project_id).where(r.c.id == bindparam("rid")).scalar_subquery()
        add = bindparam("size", type_=p.c.used_bytes.type)
        return (
            update(p)
            .where(
                p.c.id == project_of,
                ~held(p.c.id, bindparam("rid"), bindparam("digest")),
                or_(p.c.quota_bytes.is_(None), p.c.used_bytes + add <= p.c.quota_bytes),
            )
            .values(used_bytes=p.c.used_bytes + add)
            .returning(p.c.id)
        )

    charged = conn.scalar(
        _prepared(conn, f"charge_{kind}", build), {"rid": rid, "digest": digest, "size": size}
    )
    if charged is not None:
        return
    project = conn.execute(
        select(p.c.id, p.c.name, p.c.quota_bytes, p.c.used_bytes).where(p.c.id == pid)
    ).first()
    if project is None or project.quota_bytes is None:
        return
    if conn.scalar(select(held(project.id, rid, digest))):
        return
    raise quota_error(project.name, int(project.quota_bytes), int(project.used_bytes), size)


def _release(conn: Connection, rid: int, size: int, held: Any) -> None:
    """Give `size` bytes back to the project once none of its repositories holds them."""
    pid = conn.scalar(
        select(p.c.id)
        .select_from(p.join(r, r.c.project_id == p.c.id))
        .where(r.c.id == rid)
        .with_for_update(of=p)
    )
    if pid is None or conn.scalar(select(held(pid))):
        return
    conn.execute(
        update(p)
        .where(p.c.id == pid)
        .values(used_bytes=case((p.c.used_bytes > size, p.c.used_bytes - size), else_=0))
    )


def _busy(digest: str) -> BlobBusy:
    return BlobBusy(
        f"blob {digest} is being garbage-collected; retry in a moment",
        headers={"Retry-After": "1"},
    )


def _pin(conn: Connection, digest: str) -> None:
    """A write is about to rely on the blob's bytes (dedup them, or place its own):
    touch the row, so that GC leaves it alone for its grace period; BlobBusy if a GC
    pass has claimed it (its bytes may be going: wait until the row is gone)."""
    claimed = conn.scalar(
        _prepared(
            conn,
            "pin_blob",
            lambda _: (
                update(b)
                .where(b.c.digest == bindparam("d"))
                .values(touched_at=bindparam("at", type_=b.c.created_at.type))
                .returning(b.c.deleting_since)
            ),
        ),
        {"d": digest, "at": now()},
    )
    if claimed is not None:
        raise _busy(digest)


def check_quota(conn: Connection, repository: str, digest: str, size: int) -> None:
    """Refuse a blob its project has no room for (a read: the link checks again).
    Pins the blob first: this runs just before an upload's bytes are placed."""
    _pin(conn, digest)
    held = (
        select(rb.c.digest)
        .join(r, r.c.id == rb.c.repository_id)
        .where(r.c.project_id == p.c.id, rb.c.digest == digest)
        .exists()
    )
    row = conn.execute(
        select(p.c.name, p.c.quota_bytes, p.c.used_bytes, held.label("held"))
        .select_from(p.join(r, r.c.project_id == p.c.id))
        .where(r.c.name == repository)
    ).first()
    if row is None or row.quota_bytes is None or row.held:
        return
    used, quota = int(row.used_bytes), int(row.quota_bytes)
    if used + size > quota:
        raise quota_error(row.name, quota, used, size)


# -- blobs ---------------------------------------------------------------------------


def _upsert_blob(ins: Any) -> Any:
    stmt = ins(b)
    return stmt.on_conflict_do_update(
        index_elements=["digest"],
        set_={"touched_at": stmt.excluded.touched_at},
        where=b.c.deleting_since.is_(None),
    ).returning(b.c.digest)


def _link(conn: Connection, rid: int, digest: str, size: int) -> None:
    """Link the blob to repository `rid`, touching the blob and the link (GC's fence);
    BlobBusy if a GC pass has claimed the blob."""
    at = now()
    live = conn.scalar(
        _prepared(conn, "upsert_blob", _upsert_blob),
        {"digest": digest, "size": size, "created_at": at, "touched_at": at},
    )
    if live is None:  # the row is there and claimed by GC: no link to bytes that may go
        raise _busy(digest)
    linked = conn.scalar(
        _prepared(
            conn,
            "insert_link",
            lambda ins: (
                ins(rb)
                .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
                .returning(rb.c.repository_id)
            ),
        ),
        {"repository_id": rid, "digest": digest, "created_at": at, "touched_at": at},
    )
    if linked is not None:  # new in this repository
        _charge(conn, "blob", rid, digest, size)
        return
    # a re-push or mount of a blob the repository has: its grace starts again (and on
    # PostgreSQL the row is locked against GC's drop until this commits)
    conn.execute(
        _prepared(
            conn,
            "touch_link",
            lambda _: (
                update(rb)
                .where(rb.c.repository_id == bindparam("rid"), rb.c.digest == bindparam("d"))
                .values(touched_at=bindparam("at", type_=rb.c.created_at.type))
            ),
        ),
        {"rid": rid, "d": digest, "at": at},
    )


def link_blob(conn: Connection, repository: str, digest: str, size: int) -> None:
    _link(conn, ensure_repository(conn, repository), digest, size)


def unlink_blob(conn: Connection, repository: str, digest: str) -> bool:
    rid = repository_id(conn, repository)
    if rid is None:
        return False
    res = conn.execute(delete(rb).where(rb.c.repository_id == rid, rb.c.digest == digest))
    if not res.rowcount:
        return False
    size = int(conn.scalar(select(b.c.size).where(b.c.digest == digest)) or 0)
    _release(conn, rid, size, lambda pid: _blob_held(pid, rid, digest))
    return True


# -- uploads -------------------------------------------------------------------------


def create_upload(conn: Connection, repository: str, upload_id: str, at: dt.datetime) -> None:
    rid = ensure_repository(conn, repository)
    conn.execute(
        _prepared(conn, "insert_upload", lambda _: u.insert()),
        {"id": upload_id, "repository_id": rid, "offset": 0, "started_at": at, "updated_at": at},
    )


def lease_upload(
    conn: Connection,
    repository: str,
    upload_id: str,
    offset: int | None,
    seconds: float,
    holder: str = "",
    take_from: str | None = None,
    quota: tuple[str, int] | None = None,
) -> int | None:
    at = now()
    values: dict[str, Any] = {
        "uid": upload_id,
        "repo": repository,
        "at": at,
        "until": at + dt.timedelta(seconds=seconds),
        "me": holder or None,
    }

    def build(_: Any) -> Any:
        when = u.c.updated_at.type
        free = (u.c.lease_until.is_(None)) | (u.c.lease_until < bindparam("at", type_=when))
        if take_from is not None:
            free = free | (u.c.lease_holder == bindparam("prev"))
        conds = [u.c.id == bindparam("uid"), u.c.repository_id == _repo_id_param(), free]
        if offset is not None:
            conds.append(u.c.offset == bindparam("at_offset"))
        return (
            update(u)
            .where(*conds)
            .values(
                lease_until=bindparam("until", type_=when),
                lease_holder=bindparam("me", type_=u.c.lease_holder.type),
                updated_at=bindparam("at", type_=when),
            )
            .returning(u.c.offset)
        )

    if offset is not None:
        values["at_offset"] = offset
    if take_from is not None:
        values["prev"] = take_from
    key = f"lease{'' if offset is None else '_at'}{'' if take_from is None else '_over'}"
    got = conn.scalar(_prepared(conn, key, build), values)
    if got is None:
        return None
    if quota is not None:  # raising rolls the lease back with it
        check_quota(conn, repository, quota[0], int(got) + quota[1])
    return int(got)


def refresh_lease(conn: Connection, upload_id: str, seconds: float) -> None:
    at = now()
    conn.execute(
        update(u)
        .where(u.c.id == upload_id)
        .values(lease_until=at + dt.timedelta(seconds=seconds), updated_at=at)
    )


def release_upload(conn: Connection, upload_id: str, offset: int) -> None:
    conn.execute(
        update(u)
        .where(u.c.id == upload_id)
        .values(offset=offset, lease_until=None, lease_holder=None, updated_at=now())
    )


def _delete_upload(conn: Connection, upload_id: str) -> Any:
    q = _prepared(conn, "delete_upload", lambda _: delete(u).where(u.c.id == bindparam("uid")))
    return conn.execute(q, {"uid": upload_id})


def delete_upload(conn: Connection, upload_id: str) -> bool:
    return bool(_delete_upload(conn, upload_id).rowcount)


def complete_upload(
    conn: Connection, repository: str, upload_id: str, digest: str, size: int
) -> None:
    """Link the verified blob and drop the session: one transaction."""
    _link(conn, ensure_repository(conn, repository), digest, size)
    _delete_upload(conn, upload_id)
