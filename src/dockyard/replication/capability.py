"""The replication capability, as the core sees it (dockyard.capabilities): settings,
tables (Alembic branch "replication"), API routes, the command group, its jobs and
schedules, the event consumer, and scrape-time metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard import events as ev
from dockyard.jobs import JobKind, Schedule
from dockyard.replication.jobs import (
    EVENT_KINDS,
    START,
    SWEEP,
    consume,
    run_job,
    start_job,
    sweep_job,
)
from dockyard.replication.runner import NAME, RUN
from dockyard.replication.settings import ReplicationSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from prometheus_client.metrics_core import Metric

    from dockyard.capabilities import Capability

MIGRATIONS = Path(__file__).with_name("migrations")


def _router() -> APIRouter:
    from dockyard.replication.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.replication.cli import app

    return app


def _schedules(settings: Any) -> Sequence[Schedule]:
    section = settings.section(NAME)
    cron = section.sweep_cron if isinstance(section, ReplicationSettings) else "*/5 * * * *"
    return (Schedule(SWEEP, cron, SWEEP),)


def _metrics(services: Any) -> Callable[[], Awaitable[Sequence[Metric]]]:
    from prometheus_client.metrics_core import GaugeMetricFamily

    from dockyard.replication.store import ReplicationStore

    store = ReplicationStore(services.store)

    async def collect() -> Sequence[Metric]:
        counts = await store.state_counts()
        executions = GaugeMetricFamily(
            "dockyard_replication_executions",
            "Replication executions by state (all replicas): retrying ones wait for "
            "an unavailable side",
            labels=["state"],
        )
        for state in ("queued", "running", "retrying", "succeeded", "failed", "stopped"):
            executions.add_metric([state], float(counts["executions"].get(state, 0)))
        items = GaugeMetricFamily(
            "dockyard_replication_items",
            "Replication items (artifacts to copy, deletions to propagate) by state",
            labels=["state"],
        )
        for state in (
            "pending",
            "running",
            "succeeded",
            "skipped",
            "failed",
            "planned",
            "cancelled",
        ):
            items.add_metric([state], float(counts["items"].get(state, 0)))
        return (executions, items)

    return collect


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=ReplicationSettings,
        router=_router,
        cli=_cli,
        migrations=MIGRATIONS,
        # an execution retries by itself (runner.py); a job-level failure (the
        # database away, the process killed) is retried by the queue
        jobs=(
            JobKind(RUN, run_job, max_attempts=10, backoff_seconds=15.0),
            JobKind(START, start_job, max_attempts=3, backoff_seconds=60.0),
            JobKind(SWEEP, sweep_job, max_attempts=3),
        ),
        schedules=_schedules,
        consumers=(ev.EventConsumer(NAME, EVENT_KINDS, consume),),
        metrics=_metrics,
    )
