"""Replication's records: policies, executions, items and what carrying one out did,
and how rows become them (store.py runs the SQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dockyard.metadata.engine import utc
from dockyard.replication.policy import Filters, Rewrite

FINISHED = ("succeeded", "failed", "stopped")
"""an execution in one of these states is done; `queued`, `running` and `retrying` are not"""
ITEM_OPEN = ("pending", "running")


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    direction: str
    """`push` (this registry → the endpoint) or `pull` (the endpoint → this registry)"""
    endpoint: str
    filters: Filters = field(default_factory=Filters)
    rewrite: Rewrite = field(default_factory=Rewrite)
    trigger: str = "manual"
    """`manual`, `event` (push only: this registry's pushes and deletes) or `cron`"""
    cron: str | None = None
    delete_propagation: bool = False
    override: bool = True
    """replace a destination tag that points elsewhere (else the item is skipped)"""
    bandwidth_bytes: int = 0
    """bytes per second for the execution's blob copies (0: unlimited)"""
    enabled: bool = True
    description: str = ""
    id: int = 0
    created_by: str = ""
    created_at: dt.datetime | None = field(default=None, compare=False)
    updated_at: dt.datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Execution:
    id: int
    policy_id: int
    policy: str
    trigger: str
    dry_run: bool
    state: str
    retries: int
    next_attempt_at: dt.datetime | None
    stop_requested: bool
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True, slots=True)
class NewItem:
    action: str
    """`copy` (a tag and what it needs), `referrer` (a referrer pushed on its own,
    copied when its subject is at the destination) or `delete`"""
    source_repository: str
    reference: str
    """a tag, or a digest"""
    destination_repository: str
    digest: str | None = None
    error: str | None = None
    """set when the item cannot be carried out (a rewrite that gives no valid name):
    it is recorded failed"""


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    execution_id: int
    action: str
    source_repository: str
    reference: str
    destination_repository: str
    digest: str | None
    state: str
    """pending, running, succeeded, skipped, failed, planned (a dry run's "would
    copy"), cancelled"""
    attempts: int
    error: str | None
    bytes: int
    blobs_copied: int
    blobs_skipped: int
    blobs_mounted: int
    referrers: int
    updated_at: dt.datetime


@dataclass(slots=True)
class Outcome:
    """What copying (or deleting) one item did."""

    state: str
    error: str | None = None
    digest: str | None = None
    bytes: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    referrers: int = 0


def policy_of(row: Any) -> Policy:
    m = row._mapping
    return Policy(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        direction=m["direction"],
        endpoint=m["endpoint"],
        filters=Filters.model_validate_json(m["filters"]),
        rewrite=Rewrite.model_validate_json(m["rewrite"]),
        trigger=m["trigger"],
        cron=m["cron"],
        delete_propagation=bool(m["delete_propagation"]),
        override=bool(m["override"]),
        bandwidth_bytes=int(m["bandwidth_bytes"]),
        enabled=bool(m["enabled"]),
        created_by=m["created_by"],
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
    )


def _maybe(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)


def execution_of(row: Any, counts: dict[str, int], nbytes: int) -> Execution:
    m = row._mapping
    return Execution(
        id=m["id"],
        policy_id=m["policy_id"],
        policy=m["name"],
        trigger=m["trigger"],
        dry_run=bool(m["dry_run"]),
        state=m["state"],
        retries=m["retries"],
        next_attempt_at=_maybe(m["next_attempt_at"]),
        stop_requested=bool(m["stop_requested"]),
        error=m["error"],
        created_by=m["created_by"],
        created_at=utc(m["created_at"]),
        started_at=_maybe(m["started_at"]),
        finished_at=_maybe(m["finished_at"]),
        counts=counts,
        bytes=nbytes,
    )


def item_of(row: Any) -> Item:
    m = row._mapping
    return Item(
        id=m["id"],
        execution_id=m["execution_id"],
        action=m["action"],
        source_repository=m["source_repository"],
        reference=m["reference"],
        destination_repository=m["destination_repository"],
        digest=m["digest"],
        state=m["state"],
        attempts=m["attempts"],
        error=m["error"],
        bytes=int(m["bytes"]),
        blobs_copied=m["blobs_copied"],
        blobs_skipped=m["blobs_skipped"],
        blobs_mounted=m["blobs_mounted"],
        referrers=m["referrers"],
        updated_at=utc(m["updated_at"]),
    )


def policy_values(policy: Policy) -> dict[str, Any]:
    return {
        "description": policy.description,
        "direction": policy.direction,
        "endpoint": policy.endpoint,
        "filters": policy.filters.model_dump_json(),
        "rewrite": policy.rewrite.model_dump_json(),
        "trigger": policy.trigger,
        "cron": policy.cron,
        "delete_propagation": policy.delete_propagation,
        "override": policy.override,
        "bandwidth_bytes": policy.bandwidth_bytes,
        "enabled": policy.enabled,
    }
