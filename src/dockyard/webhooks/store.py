"""The webhooks capability's SQL: policies and deliveries, on the metadata database's
engines (SQLite and PostgreSQL by the same statements).

A lane is one policy's deliveries for one repository. `claim` hands out the lane's
head (the oldest undelivered delivery, by commit order) to one sender at a time: it
is marked `sending` with a lease in a conditional UPDATE, so two workers racing for
a lane see exactly one win (PostgreSQL re-checks the WHERE after the first commits;
SQLite's writers are serialized). A sender that dies loses the lease and the next
claim takes the head again. Later deliveries of the lane wait until the head is
delivered or has failed for good: order per repository holds across retries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard import events as ev
from dockyard.errors import Conflict
from dockyard.metadata import schema as core
from dockyard.metadata.sql_base import SqlEngines
from dockyard.webhooks import schema as t

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
OPEN_STATES = (PENDING, SENDING)


def _utc(value: Any) -> dt.datetime:
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _opt_utc(value: Any) -> dt.datetime | None:
    return None if value is None else _utc(value)


def engines_of(store: object) -> SqlEngines:
    """The engines of the metadata store the server runs on (SqlMetadataStore)."""
    read, write = getattr(store, "read_engine", None), getattr(store, "write_engine", None)
    if not isinstance(read, AsyncEngine) or not isinstance(write, AsyncEngine):
        raise RuntimeError("webhooks need the SQL metadata store")
    return SqlEngines(read, write)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: int
    project: str
    project_public: bool
    name: str
    description: str
    enabled: bool
    event_kinds: tuple[str, ...]
    format: str
    url_redacted: str
    url_sealed: str
    auth_header_sealed: str | None
    secret_sealed: str
    skip_tls_verify: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    policy_id: int
    event_id: int | None
    event_seq: int
    kind: str
    repository: str | None
    lane: str
    event: Mapping[str, Any]
    state: str
    attempts: int
    status_code: int | None
    last_error: str | None
    sent_with: int | None
    test: bool
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    policy_id: int
    event: Mapping[str, Any]
    """payloads.event_json of the event"""


@dataclass(frozen=True, slots=True)
class Claim:
    """What `claim` found at a lane's head: `rows` to send now (the head, plus the pulls
    after it when coalescing), or why not: the lane is `empty`, `busy` (another sender
    holds it, until `wait_until` at most), or waiting until `wait_until` (the head's next
    attempt)."""

    rows: tuple[DeliveryRow, ...] = ()
    empty: bool = False
    busy: bool = False
    wait_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    """None when delivered"""


_POLICY_COLUMNS = (
    t.policies,
    core.projects.c.name.label("project"),
    core.projects.c.public.label("project_public"),
)


def _policy(row: Any) -> PolicyRow:
    m = row._mapping
    return PolicyRow(
        id=int(m["id"]),
        project=str(m["project"]),
        project_public=bool(m["project_public"]),
        name=m["name"],
        description=m["description"],
        enabled=bool(m["enabled"]),
        event_kinds=tuple(json.loads(m["event_kinds"])),
        format=m["format"],
        url_redacted=m["url_redacted"],
        url_sealed=m["url_sealed"],
        auth_header_sealed=m["auth_header_sealed"],
        secret_sealed=m["secret_sealed"],
        skip_tls_verify=bool(m["skip_tls_verify"]),
        created_by=m["created_by"],
        created_at=_utc(m["created_at"]),
        updated_at=_utc(m["updated_at"]),
    )


def _delivery(row: Any) -> DeliveryRow:
    m = row._mapping
    return DeliveryRow(
        id=int(m["id"]),
        policy_id=int(m["policy_id"]),
        event_id=m["event_id"],
        event_seq=int(m["event_seq"]),
        kind=m["kind"],
        repository=m["repository"],
        lane=m["lane"],
        event=json.loads(m["event"]),
        state=m["state"],
        attempts=int(m["attempts"]),
        status_code=m["status_code"],
        last_error=m["last_error"],
        sent_with=m["sent_with"],
        test=bool(m["test"]),
        next_attempt_at=_utc(m["next_attempt_at"]),
        created_at=_utc(m["created_at"]),
        updated_at=_utc(m["updated_at"]),
        finished_at=_opt_utc(m["finished_at"]),
    )


class WebhookStore:
    def __init__(self, db: SqlEngines) -> None:
        self._db = db

    # -- policies -----------------------------------------------------------------

    def _policies(self) -> Any:
        return select(*_POLICY_COLUMNS).join(
            core.projects, core.projects.c.id == t.policies.c.project_id
        )

    async def create_policy(self, project_id: int, values: Mapping[str, Any]) -> int:
        now = dt.datetime.now(dt.UTC)
        row = {**values, "project_id": project_id, "created_at": now, "updated_at": now}
        row["event_kinds"] = json.dumps(sorted(values["event_kinds"]))
        try:
            async with self._db.write.begin() as conn:
                result = await conn.execute(t.policies.insert().values(**row))
        except IntegrityError:
            raise Conflict(f"a webhook named {values['name']!r} already exists") from None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def get_policy(self, policy_id: int, project: str | None = None) -> PolicyRow | None:
        query = self._policies().where(t.policies.c.id == policy_id)
        if project is not None:
            query = query.where(core.projects.c.name == project)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _policy(row)

    async def list_policies(self, project: str) -> list[PolicyRow]:
        query = self._policies().where(core.projects.c.name == project).order_by(t.policies.c.id)
        async with self._db.read.connect() as conn:
            return [_policy(r) for r in await conn.execute(query)]

    async def update_policy(self, policy_id: int, values: Mapping[str, Any]) -> None:
        row = {**values, "updated_at": dt.datetime.now(dt.UTC)}
        if "event_kinds" in row:
            row["event_kinds"] = json.dumps(sorted(row["event_kinds"]))
        try:
            async with self._db.write.begin() as conn:
                await conn.execute(
                    update(t.policies).where(t.policies.c.id == policy_id).values(**row)
                )
        except IntegrityError:
            raise Conflict(f"a webhook named {values.get('name')!r} already exists") from None

    async def delete_policy(self, policy_id: int) -> bool:
        async with self._db.write.begin() as conn:
            # deliveries first: SQLite enforces the cascade only with foreign_keys=ON
            await conn.execute(t.deliveries.delete().where(t.deliveries.c.policy_id == policy_id))
            result = await conn.execute(t.policies.delete().where(t.policies.c.id == policy_id))
        return bool(result.rowcount)

    async def enabled_policies(self, projects: Sequence[str]) -> list[PolicyRow]:
        if not projects:
            return []
        query = (
            self._policies()
            .where(core.projects.c.name.in_(sorted(set(projects))), t.policies.c.enabled)
            .order_by(t.policies.c.id)
        )
        async with self._db.read.connect() as conn:
            return [_policy(r) for r in await conn.execute(query)]

    # -- deliveries ---------------------------------------------------------------

    async def record(self, new: Sequence[NewDelivery]) -> int:
        """Insert one delivery per (policy, event), skipping those already recorded;
        the number inserted."""
        if not new:
            return 0
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "policy_id": d.policy_id,
                "event_id": int(d.event["id"]),
                "event_seq": int(d.event["seq"]),
                "kind": d.event["kind"],
                "repository": d.event.get("repository"),
                "lane": d.event.get("repository") or "",
                "event": json.dumps(d.event, separators=(",", ":")),
                "state": PENDING,
                "attempts": 0,
                "test": False,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for d in new
        ]
        statement = self._db.insert(t.deliveries).on_conflict_do_nothing(
            index_elements=["policy_id", "event_id"]
        )
        async with self._db.write.begin() as conn:
            result = await conn.execute(statement, rows)
        return max(0, int(result.rowcount or 0))

    async def record_test(
        self, policy_id: int, event: Mapping[str, Any], outcome: Outcome, attempts: int = 1
    ) -> DeliveryRow:
        now = dt.datetime.now(dt.UTC)
        row = {
            "policy_id": policy_id,
            "event_id": None,
            "event_seq": 0,
            "kind": event["kind"],
            "repository": event.get("repository"),
            "lane": "",
            "event": json.dumps(event, separators=(",", ":")),
            "state": FAILED if outcome.error else DELIVERED,
            "attempts": attempts,
            "status_code": outcome.status_code,
            "last_error": outcome.error,
            "test": True,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "finished_at": now,
        }
        async with self._db.write.begin() as conn:
            result = await conn.execute(t.deliveries.insert().values(**row))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            found = (
                await conn.execute(select(t.deliveries).where(t.deliveries.c.id == new_id))
            ).one()
        return _delivery(found)

    def _lane(self, policy_id: int, lane: str) -> Any:
        d = t.deliveries.c
        return and_(d.policy_id == policy_id, d.lane == lane, d.state.in_(OPEN_STATES), ~d.test)

    async def claim(
        self,
        policy_id: int,
        lane: str,
        *,
        lease_seconds: float,
        coalesce: int = 1,
        now: dt.datetime | None = None,
    ) -> Claim:
        """Take the lane's head for sending (with up to `coalesce` - 1 pulls after it
        when the head is a pull), if it is free and due."""
        now = now or dt.datetime.now(dt.UTC)
        d = t.deliveries.c
        in_lane = self._lane(policy_id, lane)
        order = (d.event_seq, d.id)
        async with self._db.write.begin() as conn:
            found = (
                await conn.execute(select(t.deliveries).where(in_lane).order_by(*order).limit(1))
            ).first()
            if found is None:
                return Claim(empty=True)
            head = _delivery(found)
            lease = found._mapping["lease_until"]
            if head.state == SENDING and lease is not None and _utc(lease) > now:
                # held: by a live sender, or one that died; look again when it ends
                return Claim(busy=True, wait_until=_utc(lease))
            if head.next_attempt_at > now:
                return Claim(wait_until=head.next_attempt_at)
            rows = [head]
            if head.kind == ev.PULLED and coalesce > 1:
                after = or_(
                    d.event_seq > head.event_seq,
                    and_(d.event_seq == head.event_seq, d.id > head.id),
                )
                later = select(t.deliveries).where(in_lane, after).order_by(*order)
                later = later.limit(coalesce - 1)
                for row in await conn.execute(later):
                    delivery = _delivery(row)
                    if delivery.kind != ev.PULLED or delivery.state != PENDING:
                        break
                    rows.append(delivery)
            lease_until = now + dt.timedelta(seconds=lease_seconds)
            free = or_(d.state == PENDING, d.lease_until.is_(None), d.lease_until <= now)
            taken = await conn.execute(
                update(t.deliveries)
                .where(d.id == head.id, d.state.in_(OPEN_STATES), free)
                .values(state=SENDING, lease_until=lease_until)
            )
            if taken.rowcount != 1:
                return Claim(busy=True)
            rest = [r.id for r in rows[1:]]
            if rest:
                await conn.execute(
                    update(t.deliveries)
                    .where(d.id.in_(rest), d.state == PENDING)
                    .values(state=SENDING, lease_until=lease_until)
                )
        return Claim(rows=tuple(rows))

    async def finish(
        self,
        rows: Sequence[DeliveryRow],
        outcome: Outcome,
        *,
        max_attempts: int,
        backoff: dt.timedelta,
        now: dt.datetime | None = None,
    ) -> tuple[str, dt.datetime | None]:
        """Record one attempt of the post that carried `rows` (the first is the head):
        delivered, retried after `backoff`, or failed for good after `max_attempts`.
        The head's new state and, when it is retried, when."""
        now = now or dt.datetime.now(dt.UTC)
        d = t.deliveries.c
        head = rows[0]
        attempts = head.attempts + 1
        retry_at: dt.datetime | None = None
        if outcome.error is None:
            state = DELIVERED
        elif attempts >= max_attempts:
            state = FAILED
        else:
            state, retry_at = PENDING, now + backoff
        values: dict[str, Any] = {
            "state": state,
            "attempts": attempts,
            "status_code": outcome.status_code,
            "last_error": outcome.error,
            "lease_until": None,
            "updated_at": now,
            "finished_at": None if state == PENDING else now,
        }
        async with self._db.write.begin() as conn:
            await conn.execute(
                update(t.deliveries)
                .where(d.id == head.id)
                .values(**values, next_attempt_at=retry_at or now)
            )
            others = [r.id for r in rows[1:]]
            if others and state == DELIVERED:
                await conn.execute(
                    update(t.deliveries).where(d.id.in_(others)).values(**values, sent_with=head.id)
                )
            elif others:  # not carried: they go back to wait behind the head
                await conn.execute(
                    update(t.deliveries)
                    .where(d.id.in_(others))
                    .values(state=PENDING, lease_until=None, updated_at=now)
                )
        return state, retry_at

    async def list_deliveries(
        self,
        policy_id: int,
        offset: int,
        limit: int,
        *,
        state: str | None = None,
        oldest_first: bool = False,
    ) -> tuple[list[DeliveryRow], int]:
        """A page of the policy's deliveries (only those in `state`), newest first or
        oldest first, on ix_webhook_deliveries_policy_id; and how many there are."""
        d = t.deliveries.c
        conds = [d.policy_id == policy_id]
        if state is not None:
            conds.append(d.state == state)
        query = (
            select(t.deliveries)
            .where(*conds)
            .order_by(d.id if oldest_first else d.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(t.deliveries).where(*conds)
        async with self._db.read.connect() as conn:
            rows = [_delivery(r) for r in await conn.execute(query)]
            total = int(await conn.scalar(count) or 0)
        return rows, total

    async def open_lanes(self, policy_id: int) -> list[str]:
        d = t.deliveries.c
        query = (
            select(d.lane)
            .where(d.policy_id == policy_id, d.state.in_(OPEN_STATES), ~d.test)
            .distinct()
        )
        async with self._db.read.connect() as conn:
            return sorted(str(lane) for lane in (await conn.scalars(query)))

    async def purge(self, before: dt.datetime) -> int:
        """Delete finished deliveries older than `before`; how many."""
        d = t.deliveries.c
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                t.deliveries.delete().where(
                    d.state.in_((DELIVERED, FAILED)), d.finished_at < before
                )
            )
        return int(result.rowcount or 0)
