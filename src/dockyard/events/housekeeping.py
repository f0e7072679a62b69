"""Purging events every consumer is past."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, select

from dockyard.metadata import schema as s

e, ec = s.events, s.event_consumers


def purge(conn: Connection, consumers: Sequence[str], before: dt.datetime) -> int:
    """Delete relayed events older than `before` that every consumer in `consumers`
    has handled (a consumer that never ran holds nothing back: it starts at the end)."""
    q = delete(e).where(e.c.seq.is_not(None), e.c.at < before)
    if consumers:
        low = conn.scalar(select(func.min(ec.c.position)).where(ec.c.name.in_(list(consumers))))
        if low is not None:
            q = q.where(e.c.seq <= low)
    return int(conn.execute(q).rowcount or 0)
