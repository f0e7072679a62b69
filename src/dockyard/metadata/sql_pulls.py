"""Pull statistics: one flush of the pulls a process counted, as one transaction.

Run by the store's writer (metadata/writer.py) like every registry write. Each
(repository, digest) adds its count to `artifact_pulls` and moves `last_pulled_at`
forward (never back: two processes may flush out of order), and one
`artifact.pulled` event per artifact goes to the outbox in the same transaction.
Artifacts deleted since they were pulled are skipped (their statistics went with
them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, select, tuple_

from dockyard.events import PULLED, NewEvent
from dockyard.events.outbox import write_events
from dockyard.metadata import schema as s
from dockyard.metadata.sql_writes import insert


@dataclass(frozen=True, slots=True)
class PullTally:
    """The pulls of one artifact one process counted since its last flush."""

    repository: str
    digest: str
    count: int
    last_pulled_at: datetime
    tags: tuple[str, ...] = ()
    """the tags it was pulled by (empty: by digest only)"""


def record_pulls(conn: Connection, tallies: Sequence[PullTally]) -> int:
    """Add the tallies; return how many artifacts were recorded."""
    if not tallies:
        return 0
    r, m, ap = s.repositories, s.manifests, s.artifact_pulls
    names = {t.repository for t in tallies}
    ids = {
        row.name: int(row.id)
        for row in conn.execute(select(r.c.id, r.c.name).where(r.c.name.in_(names)))
    }
    wanted = [(ids[t.repository], t.digest) for t in tallies if t.repository in ids]
    if not wanted:
        return 0
    present = {
        (int(row.repository_id), row.digest)
        for row in conn.execute(
            select(m.c.repository_id, m.c.digest).where(
                tuple_(m.c.repository_id, m.c.digest).in_(wanted)
            )
        )
    }
    rows: list[dict[str, Any]] = []
    events: list[NewEvent] = []
    for t in tallies:
        rid = ids.get(t.repository)
        if rid is None or (rid, t.digest) not in present:
            continue
        rows.append(
            {
                "repository_id": rid,
                "digest": t.digest,
                "pull_count": t.count,
                "last_pulled_at": t.last_pulled_at,
            }
        )
        events.append(
            NewEvent(
                kind=PULLED,
                repository=t.repository,
                digest=t.digest,
                detail={"count": t.count, "tags": list(t.tags)},
            )
        )
    if not rows:
        return 0
    stmt = insert(conn, ap)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["repository_id", "digest"],
            set_={
                "pull_count": ap.c.pull_count + stmt.excluded.pull_count,
                "last_pulled_at": case(
                    (
                        stmt.excluded.last_pulled_at > ap.c.last_pulled_at,
                        stmt.excluded.last_pulled_at,
                    ),
                    else_=ap.c.last_pulled_at,
                ),
            },
        ),
        rows,
    )
    write_events(conn, events)  # the outbox, in this transaction
    return len(rows)
