"""Replication's jobs and its event consumer.

- `replication.run` {execution}: run (or resume) one execution (runner.py);
- `replication.start` {policy}: a cron policy's tick: a new execution, run at once;
- `replication.sweep`: executions due a retry, or whose runner died, enqueued again
  (each retry is also enqueued for its time when it is decided: the sweep is the
  net under that, e.g. after a restore of the database);
- the consumer turns this registry's pushes and deletes into event executions of
  the push policies triggered by events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard import events as ev
from dockyard.jobs import PermanentFailure
from dockyard.metadata.engine import utcnow
from dockyard.replication.planner import from_events
from dockyard.replication.runner import RUN, Runner, settings_of
from dockyard.replication.store import ReplicationStore

if TYPE_CHECKING:
    from dockyard.jobs import JobContext

START = "replication.start"
SWEEP = "replication.sweep"
SYSTEM = "system"
EVENT_KINDS = frozenset({ev.PUSHED, ev.DELETED, ev.TAG_DELETED})


def _int(payload: Mapping[str, Any], key: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PermanentFailure(f"the payload's {key!r} must be a positive integer")
    return value


async def run_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    execution_id = _int(payload, "execution")
    runner = Runner(ctx.services, ctx)
    state = await runner.run(execution_id)
    await ctx.log(f"execution {execution_id}: {state} {runner.counted}")
    return {"execution": execution_id, "state": state, "items": runner.counted}


async def start_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    name = payload.get("policy")
    if not isinstance(name, str):
        raise PermanentFailure("the payload's 'policy' must be a policy name")
    store = ReplicationStore(ctx.services.store)  # type: ignore[arg-type]
    policy = await store.policy(name)
    if not policy.enabled:
        return {"skipped": "the policy is disabled"}
    execution_id = await store.create_execution(policy, "cron", SYSTEM)
    assert execution_id is not None
    runner = Runner(ctx.services, ctx)
    state = await runner.run(execution_id)
    return {"execution": execution_id, "state": state, "items": runner.counted}


async def sweep_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    store = ReplicationStore(ctx.services.store)  # type: ignore[arg-type]
    now = utcnow()
    due = await store.retrying_due(now)
    for execution_id in due:
        await ctx.services.jobs.enqueue(
            RUN, {"execution": execution_id}, dedup_key=f"{RUN}:{execution_id}"
        )
    purged = await store.purge(now - dt.timedelta(days=settings_of(ctx.services).keep_days))
    return {"enqueued": len(due), "purged": purged}


async def consume(ctx: JobContext, events: Sequence[ev.Event]) -> None:
    """Idempotent: an execution per (policy, batch of events), keyed by the batch's
    sequence numbers, so a batch handed over again adds nothing."""
    if not events:
        return
    store = ReplicationStore(ctx.services.store)  # type: ignore[arg-type]
    dedup = f"events:{events[0].seq}-{events[-1].seq}"
    for policy in await store.policies():
        if not (policy.enabled and policy.trigger == "event" and policy.direction == "push"):
            continue
        items = from_events(policy, events)
        if not items:
            continue
        execution_id = await store.create_execution(
            policy, "event", SYSTEM, items=items, dedup=dedup
        )
        if execution_id is not None:
            await ctx.services.jobs.enqueue(
                RUN, {"execution": execution_id}, dedup_key=f"{RUN}:{execution_id}"
            )
