"""The backup capability, as the core sees it (dockyard.capabilities): settings, the
`dockyard backup` group and `dockyard restore`, and the scheduled backup job
(`backup.run`, on `backup.schedule` to `backup.destination`, keeping `backup.keep`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.backup.settings import BackupSettings
from dockyard.jobs import JobKind, PermanentFailure, Schedule

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability
    from dockyard.jobs import JobContext

NAME = "backup"
RUN = "backup.run"


async def run_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.backup.destination import open_destination
    from dockyard.backup.run import create, prune

    settings = ctx.services.settings.section(NAME)
    where = payload.get("destination") or settings.destination
    if not isinstance(where, str) or not where:
        raise PermanentFailure("no backup destination: set backup.destination")
    destination = open_destination(where, settings)
    try:
        done = await create(ctx.services, destination, concurrency=settings.concurrency)
        pruned = await prune(destination, settings.keep)
    finally:
        close = getattr(destination, "close", None)
        if close is not None:
            await close()
    await ctx.log(
        f"snapshot {done['id']}: copied {done['copied']['count']} blobs "
        f"({done['copied']['bytes']} bytes); pruned {pruned['snapshots_deleted']} snapshots"
    )
    return {"snapshot": done["id"], "copied": done["copied"], "pruned": pruned}


def _schedules(settings: Any) -> Sequence[Schedule]:
    section = settings.section(NAME)
    if not isinstance(section, BackupSettings) or not section.schedule:
        return ()
    return (Schedule(RUN, section.schedule, RUN),)


def _router() -> APIRouter:
    from dockyard.backup.api import router

    return router()


def _cli() -> typer.Typer:
    from dockyard.backup.cli import app

    return app


def _commands(root: typer.Typer) -> None:
    from dockyard.backup.cli import add_restore

    add_restore(root)


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=BackupSettings,
        router=_router,
        cli=_cli,
        commands=_commands,
        jobs=(JobKind(RUN, run_job, max_attempts=3, backoff_seconds=300.0),),
        schedules=_schedules,
    )
