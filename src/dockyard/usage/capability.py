"""The usage capability, as the core sees it (dockyard.capabilities): settings, API
routes, the command group, and the dedup series of /metrics (from the cached report,
so a scrape costs no query while the report is fresh)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.usage.service import NAME, usage_of
from dockyard.usage.settings import UsageSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from prometheus_client.metrics_core import Metric

    from dockyard.capabilities import Capability

OTHER = "(other)"


def _router() -> APIRouter:
    from dockyard.usage.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.usage.cli import app

    return app


def _metrics(services: Any) -> Callable[[], Awaitable[Sequence[Metric]]]:
    from prometheus_client.metrics_core import GaugeMetricFamily

    async def collect() -> Sequence[Metric]:
        usage = usage_of(services)
        report = await usage.report()
        logical = GaugeMetricFamily(
            "dockyard_dedup_logical_bytes",
            "Per project: manifests plus the blobs each references, counted per image",
            labels=["project"],
        )
        physical = GaugeMetricFamily(
            "dockyard_dedup_physical_bytes",
            "Per project: manifests plus each distinct blob once",
            labels=["project"],
        )
        ranked = sorted(report.projects.items(), key=lambda kv: (-kv[1].physical_bytes, kv[0]))
        keep = usage.settings.metrics_projects
        for name, found in ranked[:keep]:
            logical.add_metric([name], float(found.logical_bytes))
            physical.add_metric([name], float(found.physical_bytes))
        rest = ranked[keep:]
        if rest:
            logical.add_metric([OTHER], float(sum(u.logical_bytes for _, u in rest)))
            physical.add_metric([OTHER], float(sum(u.physical_bytes for _, u in rest)))
        system_logical = GaugeMetricFamily(
            "dockyard_dedup_system_logical_bytes",
            "The whole registry: manifests plus the blobs each references, per image",
        )
        system_logical.add_metric([], float(report.system.logical_bytes))
        system_physical = GaugeMetricFamily(
            "dockyard_dedup_system_physical_bytes",
            "The whole registry: manifests plus each distinct referenced blob once",
        )
        system_physical.add_metric([], float(report.system.physical_bytes))
        stored = GaugeMetricFamily(
            "dockyard_storage_stored_bytes",
            "Every blob held, referenced or not (unreferenced ones await GC)",
        )
        stored.add_metric([], float(report.stored_bytes))
        return (logical, physical, system_logical, system_physical, stored)

    return collect


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=UsageSettings,
        router=_router,
        cli=_cli,
        metrics=_metrics,
    )
