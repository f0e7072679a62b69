"""The webhooks capability, as the core sees it (dockyard.capabilities): its settings,
tables (an Alembic branch), API routes, command group, the delivery job and the
event consumer. The heavy parts are imported when first used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard import events as ev
from dockyard.jobs import JobKind, PermanentFailure, Schedule
from dockyard.webhooks.settings import WebhookSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability
    from dockyard.jobs import JobContext

NAME = "webhooks"
DELIVER = "webhooks.deliver"
PURGE = "webhooks.purge"
PURGE_CRON = "41 3 * * *"  # daily, UTC
MIGRATIONS = Path(__file__).with_name("migrations")


async def deliver(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Send one lane (a policy's deliveries for one repository) in order; when its
    head must wait for a retry, enqueue the lane again for then."""
    from dockyard.webhooks.service import WebhookService, payload_of

    try:
        policy_id, lane = payload_of(payload)
    except ValueError as exc:
        raise PermanentFailure(str(exc)) from None
    service = WebhookService(ctx.services)
    result = await service.deliver_lane(policy_id, lane, ctx.checkpoint)
    if result.retry_at is not None:
        await ctx.services.jobs.enqueue(
            DELIVER, dict(payload), dedup_key=result.retry_key, run_after=result.retry_at
        )
    return {
        "posts": result.sent,
        "delivered_events": result.events,
        "next_attempt_at": None if result.retry_at is None else result.retry_at.isoformat(),
    }


async def consume(ctx: JobContext, events: Sequence[ev.Event]) -> None:
    """Record the deliveries `events` call for and wake their lanes (idempotent)."""
    from dockyard.webhooks.service import WebhookService

    service = WebhookService(ctx.services)
    lanes = await service.record(events)
    by_policy: dict[int, list[str]] = {}
    for policy_id, lane in sorted(lanes):
        by_policy.setdefault(policy_id, []).append(lane)
    for policy_id, policy_lanes in by_policy.items():
        await service.wake(policy_id, policy_lanes)


async def purge(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Drop delivered and failed deliveries older than `webhooks.log_days`."""
    from dockyard.webhooks.service import WebhookService

    service = WebhookService(ctx.services)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=service.settings.log_days)
    purged = await service.store.purge(before)
    await ctx.log(f"purged {purged} deliveries finished before {before.isoformat()}")
    return {"purged": purged}


def _router() -> APIRouter:
    from dockyard.webhooks.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.webhooks.cli import app

    return app


def capability() -> Capability:
    # imported here: dockyard.capabilities imports this module to build REGISTERED
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=WebhookSettings,
        router=_router,
        cli=_cli,
        migrations=MIGRATIONS,
        # retries of a post are the deliveries' own (per delivery, in order); a failed
        # run of the job (the database away) is retried by the queue
        jobs=(
            JobKind(DELIVER, deliver, max_attempts=10, backoff_seconds=5.0),
            JobKind(PURGE, purge, max_attempts=3),
        ),
        # the default cron; an operator changes it with `dockyard schedules set`
        schedules=(Schedule(PURGE, PURGE_CRON, PURGE),),
        consumers=(ev.EventConsumer(NAME, ev.ALL_KINDS, consume),),
    )
