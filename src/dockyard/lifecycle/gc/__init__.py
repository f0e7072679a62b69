"""Online garbage collection, as a capability: the `gc` settings section, the
`gc.run` job and its default schedule, `POST/GET /api/v1/gc`, and `dockyard gc`.

Only this module is imported when the capability list is read; the collector, the
API and the CLI load when first used (dockyard.capabilities: no cycle, no cost at
start). How a pass works: collector.py; why it is safe under load: docs/gc.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dockyard.capabilities import Capability
from dockyard.jobs import JobContext, JobKind, Schedule

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

JOB_KIND = "gc.run"
SCHEDULE = "gc"
DEFAULT_CRON = "0 3 * * *"


class GcSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(
        DEFAULT_CRON,
        description="cron expression (UTC) of the scheduled pass; null: no scheduled pass",
    )
    grace_seconds: float = Field(
        24 * 3600.0,
        ge=0,
        description="what was pushed, linked or touched more recently than this is kept "
        "(well above the longest upload)",
    )
    delete_untagged: bool = Field(
        False, description="also delete manifests no tag reaches (through indexes, referrers)"
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import re

        from dockyard.jobs.cron import CRON_PATTERN, valid_cron  # croniter loads only here

        if not re.match(CRON_PATTERN, v) or not valid_cron(v):
            raise ValueError(f"{v!r} is not a cron expression (five fields, UTC)")
        return v


async def _run(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.lifecycle.gc.service import run_job

    return await run_job(ctx, payload)


def _router() -> APIRouter:
    from dockyard.lifecycle.gc.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.lifecycle.gc.cli import app

    return app


def _schedules(settings: Any) -> Sequence[Schedule]:
    cron = settings.section("gc").schedule
    return [] if cron is None else [Schedule(SCHEDULE, cron, JOB_KIND, {})]


CAPABILITY = Capability(
    name="gc",
    settings=GcSettings,
    router=_router,
    cli=_cli,
    jobs=(JobKind(JOB_KIND, _run, max_attempts=3, backoff_seconds=60.0),),
    schedules=_schedules,
)
