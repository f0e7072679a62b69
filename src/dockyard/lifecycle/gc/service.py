"""GC as the API, the CLI and the job use it: run one pass and keep its report
(gc_runs), start a pass on the job queue, list the last reports."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.jobs import JobContext, PermanentFailure
from dockyard.lifecycle.gc import JOB_KIND
from dockyard.lifecycle.gc.collector import Checkpoint, Collector, GcOptions, GcReport, Progress
from dockyard.metadata.gc import GcRun

if TYPE_CHECKING:
    from dockyard.accounts.guard import Actor
    from dockyard.context import Services

log = logging.getLogger(__name__)
MAX_RUNS = 100


def options_from(services: Services, payload: Mapping[str, Any]) -> GcOptions:
    """A pass's options: the payload's, else the `gc` section's."""
    section = services.settings.section("gc")
    grace = payload.get("grace_seconds")
    untagged = payload.get("delete_untagged")
    dry_run = payload.get("dry_run", False)
    if grace is not None and (not isinstance(grace, int | float) or grace < 0):
        raise PermanentFailure(f"grace_seconds must be a number >= 0, not {grace!r}")
    if untagged is not None and not isinstance(untagged, bool):
        raise PermanentFailure(f"delete_untagged must be true or false, not {untagged!r}")
    if not isinstance(dry_run, bool):
        raise PermanentFailure(f"dry_run must be true or false, not {dry_run!r}")
    return GcOptions(
        grace=dt.timedelta(seconds=section.grace_seconds if grace is None else float(grace)),
        delete_untagged=section.delete_untagged if untagged is None else untagged,
        dry_run=dry_run,
        upload_max_age=dt.timedelta(hours=services.settings.registry.upload_max_age_hours),
    )


async def run_pass(
    services: Services,
    options: GcOptions,
    trigger: str,
    *,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> GcReport:
    """One pass, its report kept in gc_runs (running, then succeeded or failed)."""
    recorded = {
        "grace_seconds": options.grace.total_seconds(),
        "delete_untagged": options.delete_untagged,
    }
    run_id = await services.gc.start_run(trigger, options.dry_run, recorded)
    extra: dict[str, Any] = {}
    if progress is not None:
        extra["progress"] = progress
    if checkpoint is not None:
        extra["checkpoint"] = checkpoint
    collector = Collector(
        services.gc, services.store, services.storage, invalidate=services.cache.invalidate, **extra
    )
    try:
        report = await collector.run(options)
    except BaseException as exc:
        await services.gc.update_run(run_id, {}, state="failed", error=str(exc) or repr(exc))
        raise
    await services.gc.update_run(run_id, report.as_dict(), state="succeeded")
    log.info("gc pass %d: %s", run_id, report.summary())
    return report


async def run_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `gc.run` job: a pass with the payload's options (the settings' by default)."""
    options = options_from(ctx.services, payload)
    trigger = str(payload.get("trigger", "schedule"))
    await ctx.log(f"gc pass: grace {options.grace}, delete untagged {options.delete_untagged}")
    report = await run_pass(ctx.services, options, trigger, checkpoint=ctx.checkpoint)
    await ctx.log(report.summary())
    return report.as_dict()


class GcService:
    """Starting passes and reading reports through the API (system administrators)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def start(
        self,
        actor: Actor,
        *,
        dry_run: bool,
        grace_seconds: float | None,
        delete_untagged: bool | None,
    ) -> int:
        guard = self._services.guard
        guard.admin(actor, "run garbage collection")
        payload: dict[str, Any] = {"dry_run": dry_run, "trigger": "api"}
        if grace_seconds is not None:
            payload["grace_seconds"] = grace_seconds
        if delete_untagged is not None:
            payload["delete_untagged"] = delete_untagged
        # one pass at a time: a second request while one waits gets the same job
        job_id = await self._services.jobs.enqueue(JOB_KIND, payload, dedup_key=JOB_KIND)
        await guard.record(actor, "gc.start", f"job/{job_id}", detail=payload)
        return job_id

    async def runs(self, actor: Actor, limit: int) -> list[GcRun]:
        self._services.guard.admin(actor, "see garbage collection")
        return await self._services.gc.runs(min(limit, MAX_RUNS))
