"""The convert capability, as the core sees it (dockyard.capabilities): its settings,
the `convert.zstd` job kind, its API route and its command group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.convert.settings import ConvertSettings
from dockyard.jobs import JobContext, JobKind

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability

NAME = "convert"
JOB = "convert.zstd"


async def _run(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.convert.service import run_job

    return await run_job(ctx, payload)


def _router() -> APIRouter:
    from dockyard.convert.api import router

    return router


def _cli() -> typer.Typer:
    from dockyard.convert.cli import app

    return app()


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=ConvertSettings,
        router=_router,
        cli=_cli,
        # a layer that is not gzip, a diff_id that does not match, a refused tag fail at
        # once (PermanentFailure); storage or database trouble is retried
        jobs=(JobKind(JOB, _run, max_attempts=3, backoff_seconds=30.0),),
    )
