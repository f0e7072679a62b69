"""The tiering capability, as the core sees it (dockyard.capabilities): settings, the
two-tier storage (only when `tiering.cold` is set: without it reads cost nothing
more), the tiering job and its schedule, API routes, the command group, and the
bytes per tier in /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.jobs import JobKind, PermanentFailure, Schedule
from dockyard.tiering.service import NAME, RUN, tiering_of
from dockyard.tiering.settings import TieringSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from prometheus_client.metrics_core import Metric

    from dockyard.capabilities import Capability
    from dockyard.jobs import JobContext
    from dockyard.storage.base import StorageDriver

MIGRATIONS = Path(__file__).with_name("migrations")


def _section(settings: Any) -> TieringSettings:
    found = settings.section(NAME)
    return found if isinstance(found, TieringSettings) else TieringSettings()


def _storage(
    settings: Any, hot: StorageDriver, build: Callable[[Any, str], StorageDriver]
) -> StorageDriver:
    section = _section(settings)
    if section.cold is None:
        return hot
    from dockyard.storage.tiered import TieredDriver

    return TieredDriver(
        hot, build(section.cold, "cold"), mode=section.mode, recalls=section.recalls
    )


async def run_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.errors import Conflict

    try:
        done = await tiering_of(ctx.services).run_pass(ctx.log)
    except Conflict as e:
        raise PermanentFailure(str(e)) from None
    return done.public()


def _schedules(settings: Any) -> Sequence[Schedule]:
    section = _section(settings)
    if section.cold is None or not section.schedule:
        return ()
    return (Schedule(RUN, section.schedule, RUN),)


def _router() -> APIRouter:
    from dockyard.tiering.api import router

    return router()


def _cli() -> typer.Typer:
    from dockyard.tiering.cli import app

    return app


def _metrics(services: Any) -> Callable[[], Awaitable[Sequence[Metric]]]:
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

    tiering = tiering_of(services)

    async def collect() -> Sequence[Metric]:
        totals = await tiering.totals()
        tier_bytes = GaugeMetricFamily(
            "dockyard_storage_tier_bytes", "Bytes of blobs on each storage tier", labels=["tier"]
        )
        tier_blobs = GaugeMetricFamily(
            "dockyard_storage_tier_blobs", "Blobs on each storage tier", labels=["tier"]
        )
        tier_bytes.add_metric(["hot"], float(totals.hot_bytes))
        tier_bytes.add_metric(["cold"], float(totals.cold_bytes))
        tier_blobs.add_metric(["hot"], float(totals.hot_blobs))
        tier_blobs.add_metric(["cold"], float(totals.cold_blobs))
        driver = tiering.driver  # without a cold tier the counters stay at 0
        reads = CounterMetricFamily(
            "dockyard_storage_cold_reads", "Reads this process served from the cold tier"
        )
        reads.add_metric([], float(driver.cold_reads if driver else 0))
        recalls = CounterMetricFamily(
            "dockyard_storage_recalls",
            "Cold blobs this process copied back to hot on a read, by outcome",
            labels=["outcome"],
        )
        recalls.add_metric(["done"], float(driver.recalled if driver else 0))
        recalls.add_metric(["failed"], float(driver.recall_failures if driver else 0))
        out: list[Metric] = [tier_bytes, tier_blobs, reads, recalls]
        return out

    return collect


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=TieringSettings,
        router=_router,
        cli=_cli,
        migrations=MIGRATIONS,
        jobs=(JobKind(RUN, run_job, max_attempts=3, backoff_seconds=300.0),),
        schedules=_schedules,
        storage=_storage,
        metrics=_metrics,
    )
