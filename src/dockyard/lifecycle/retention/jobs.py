"""The job kind "retention.run" and its schedule.

One global schedule rather than a cron per project: the capability seam declares
schedules statically (dockyard.capabilities), every firing is one job on whichever
replica is free, and an operator changes when it fires through the jobs API
(`dockyard jobs …`). The scheduled run (payload `{}`) applies every project's policy
that is `enabled`; a run asked for through the API (payload `{"project": …}`)
applies that project's stored policy whether or not it is enabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.errors import Denied, NotFound
from dockyard.jobs import JobContext, JobKind, PermanentFailure, Schedule

JOB_KIND = "retention.run"
DEFAULT_CRON = "0 3 * * *"


async def run(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.lifecycle.retention.service import RetentionService

    service = RetentionService(ctx.services)
    project = payload.get("project")
    if project is not None and not isinstance(project, str):
        raise PermanentFailure(f"payload project must be a project name, not {project!r}")
    if project is not None:
        projects = [project]
    else:
        projects = []
        for name in await service.store.projects_with_policies():
            stored = await service.store.policy(await service.project_id(name))
            if stored is not None and stored.policy.enabled:
                projects.append(name)
    done = []
    for name in projects:
        await ctx.checkpoint()
        try:
            report = await service.execute(name, ctx.log, ctx.checkpoint)
        except NotFound as exc:
            if project is not None:
                raise PermanentFailure(exc.message) from None
            continue  # deleted since listed
        except Denied as exc:  # deletion disabled on this registry
            raise PermanentFailure(exc.message) from None
        done.append(report.summary())
    return {"projects": done}


KIND = JobKind(name=JOB_KIND, run=run, max_attempts=3, backoff_seconds=60.0)
SCHEDULE = Schedule(name="retention", cron=DEFAULT_CRON, kind=JOB_KIND, payload={})
