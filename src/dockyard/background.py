"""The background side of a running Dockyard: the worker with every job kind, schedule
and event consumer of the core and of the registered capabilities.

Built by the app (a worker in each `dockyard serve` process, unless
`jobs.run_in_serve` is off) and by `dockyard worker`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.capabilities import Capability, schedules_of
from dockyard.context import Services
from dockyard.events import EventConsumer
from dockyard.events.audit import AUDIT
from dockyard.events.housekeeping import purge as purge_events
from dockyard.events.relay import Relay
from dockyard.jobs import JobContext, JobKind, Schedule
from dockyard.jobs.worker import Observer, Worker

HOUSEKEEPING = "jobs.housekeeping"


def _consumers(capabilities: Sequence[Capability]) -> list[EventConsumer]:
    """The core's consumers (the audit trail), then the capabilities'."""
    found = [AUDIT, *(c for cap in capabilities for c in cap.consumers)]
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        raise ValueError(f"event consumer names must be unique: {sorted(names)}")
    return found


def build_worker(
    services: Services,
    capabilities: Sequence[Capability],
    observe: Observer | None = None,
) -> tuple[Worker, Relay, list[Schedule]]:
    """The worker, its relay and the schedules it fires (declared by `prepare`)."""
    queue = services.jobs
    settings = services.settings
    consumers = _consumers(capabilities)
    relay = Relay(queue.read_engine, queue.writer, queue, consumers)

    async def housekeeping(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        at = dt.datetime.now(dt.UTC)
        jobs = await queue.purge(at - dt.timedelta(days=settings.jobs.history_days))
        events = await queue.writer.run(
            purge_events,
            [c.name for c in consumers],
            at - dt.timedelta(days=settings.events.keep_days),
        )
        await ctx.log(f"purged {jobs} finished jobs and {events} handled events")
        return {"jobs": jobs, "events": events}

    kinds: dict[str, JobKind] = {}
    for kind in (
        JobKind(HOUSEKEEPING, housekeeping, max_attempts=3),
        relay.kind(),
        *(k for cap in capabilities for k in cap.jobs),
    ):
        if kind.name in kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        kinds[kind.name] = kind
    schedules = [
        Schedule(HOUSEKEEPING, settings.jobs.housekeeping_cron, HOUSEKEEPING),
        *(sch for cap in capabilities for sch in schedules_of(cap, settings)),
    ]
    max_attempts = {name: k.max_attempts for name, k in kinds.items()}

    async def fire() -> None:
        fired = await queue.fire_due(list(kinds), max_attempts)
        if fired:
            worker.wake()

    cfg = settings.jobs
    worker = Worker(
        services,
        queue,
        kinds,
        concurrency=cfg.concurrency,
        poll_seconds=cfg.poll_seconds,
        lease_seconds=cfg.lease_seconds,
        ticks={"the scheduler": fire, "the event relay": relay.tick},
        observe=observe,
    )
    return worker, relay, schedules


async def start_worker(
    services: Services,
    capabilities: Sequence[Capability],
    observe: Observer | None = None,
) -> Worker:
    worker, relay, schedules = build_worker(services, capabilities, observe)
    await prepare(services, relay, schedules)
    worker.start()
    return worker


async def prepare(services: Services, relay: Relay, schedules: Sequence[Schedule]) -> None:
    """What a worker declares before its first tick: schedules, consumers' cursors."""
    await services.jobs.declare_schedules(schedules)
    await relay.declare()
