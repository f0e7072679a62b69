"""Writing events: called inside the transaction of the change they record (the
outbox), so an event exists exactly when its change was committed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import Connection, insert

from dockyard.events import NewEvent
from dockyard.metadata import schema as s

_INSERT = insert(s.events)


def row(event: NewEvent, at: dt.datetime) -> dict[str, object]:
    repo = event.repository
    return {
        "kind": event.kind,
        "at": at,
        "repository": repo,
        "project": repo.split("/", 1)[0] if repo else None,
        "digest": event.digest,
        "tag": event.tag,
        "media_type": event.media_type,
        "actor": event.actor,
        "detail": json.dumps(dict(event.detail), separators=(",", ":")) if event.detail else None,
    }


def write_events(conn: Connection, events: Sequence[NewEvent]) -> None:
    """Add `events` to the outbox in the caller's transaction."""
    if not events:
        return
    at = dt.datetime.now(dt.UTC)
    conn.execute(_INSERT, [row(e, at) for e in events])
