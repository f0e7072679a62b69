"""Events: every change to what the registry holds, written to an outbox table in
the same transaction as the change, then handed to consumers (webhooks, the audit
trail; later scan-on-push, replication, preheat) by the relay.

Why an outbox: a consumer never misses an event because a process died between the
commit and the send; the event is part of the commit. Pulls change nothing, so pull
events are counted in memory and written in batches (events/pulls.py), one event per
artifact per flush, with the number of pulls.

Delivery is at least once: the relay (a job, one at a time) gives each committed
event a sequence number in commit order, and each consumer keeps a cursor it moves
only after handling a batch; a consumer that fails is retried from its cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.jobs import JobContext

# Kinds. A consumer names the kinds it wants; new kinds are added here.
PUSHED = "artifact.pushed"
"""a manifest stored (detail: tag, previous digest when the tag moved)"""
PULLED = "artifact.pulled"
"""manifest pulls of one artifact since the last flush (detail: count, tags)"""
DELETED = "artifact.deleted"
"""a manifest deleted (detail: tags it had)"""
TAG_DELETED = "tag.deleted"
REPOSITORY_DELETED = "repository.deleted"
QUOTA_EXCEEDED = "quota.exceeded"
"""a push refused by the project's quota (detail: quota, used, requested bytes)"""
SCAN_COMPLETED = "scan.completed"

ALL_KINDS = frozenset(
    {PUSHED, PULLED, DELETED, TAG_DELETED, REPOSITORY_DELETED, QUOTA_EXCEEDED, SCAN_COMPLETED}
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be written, in the transaction of the change it records."""

    kind: str
    repository: str | None = None
    digest: str | None = None
    tag: str | None = None
    media_type: str | None = None
    actor: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    seq: int
    kind: str
    at: dt.datetime
    repository: str | None
    project: str | None
    digest: str | None
    tag: str | None
    media_type: str | None
    actor: str | None
    detail: Mapping[str, Any]


EventHandler = Callable[["JobContext", Sequence[Event]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EventConsumer:
    """A consumer of events: `handle` gets them in commit order, in batches; it must
    be idempotent (delivery is at least once). An exception retries the batch."""

    name: str
    kinds: frozenset[str]
    handle: EventHandler
    batch_size: int = 200
