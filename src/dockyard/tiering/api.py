"""`/api/v1/tiering` (administrators: bytes per tier, every rule, a pass now) and
`/api/v1/projects/{name}/tiering` (a project's rule: members read it, project
administrators set and remove it)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.models import _Input, _integral
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.tiering.service import tiering_of
from dockyard.tiering.store import Rule


class RuleIn(_Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cold_after_days": 30}]})
    cold_after_days: Annotated[
        int,
        Field(
            ge=1,
            le=36500,
            description="blobs no image of the project pulled for this many days go cold",
        ),
        BeforeValidator(_integral),
    ]


class RuleOut(BaseModel):
    project: str
    cold_after_days: int
    updated_by: str
    updated_at: dt.datetime


class TierOut(BaseModel):
    blobs: int
    bytes: int


class StatusOut(BaseModel):
    enabled: bool = Field(description="a cold tier is configured (tiering.cold)")
    mode: Literal["stream", "recall"] = Field(
        description="how a pull of a cold blob is served: streamed from cold, or recalled"
    )
    cold_location: str | None = Field(description="where the cold tier is")
    default_cold_after_days: int | None = Field(
        description="the rule of projects without their own"
    )
    min_blob_bytes: int = Field(description="smaller blobs stay hot")
    schedule: str | None = Field(description="cron (UTC) of the tiering pass")
    rules: int = Field(description="projects with a rule")
    hot: TierOut
    cold: TierOut


class RunOut(BaseModel):
    job_id: int = Field(description="follow it with GET /api/v1/jobs/{job_id}")


def _rule(rule: Rule) -> RuleOut:
    return RuleOut(
        project=rule.project,
        cold_after_days=rule.cold_after_days,
        updated_by=rule.updated_by,
        updated_at=rule.updated_at,
    )


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["tiering"])

    @r.get("/tiering", responses=errors(), summary="Bytes and blobs per tier (administrators)")
    async def status(c: Ctx) -> StatusOut:
        return StatusOut.model_validate(await tiering_of(c.services).status(c.actor))

    @r.get("/tiering/rules", responses=errors(), summary="Every project's rule (administrators)")
    async def rules(c: Ctx) -> list[RuleOut]:
        return [_rule(x) for x in await tiering_of(c.services).rules(c.actor)]

    @r.post(
        "/tiering/run",
        status_code=202,
        responses=errors(409),
        summary="Run a tiering pass now, as a job (administrators); 409 when no cold tier "
        "is configured",
    )
    async def run(c: Ctx) -> RunOut:
        return RunOut(job_id=await tiering_of(c.services).enqueue(c.actor))

    @r.get(
        "/projects/{name}/tiering",
        responses=errors(),
        summary="The project's tiering rule (members); null when it has none",
    )
    async def get_rule(c: Ctx, name: ProjectPath) -> RuleOut | None:
        found = await tiering_of(c.services).rule(c.actor, name)
        return None if found is None else _rule(found)

    @r.put(
        "/projects/{name}/tiering",
        responses=errors(),
        summary="Set the project's tiering rule (project administrators)",
    )
    async def put_rule(c: Ctx, name: ProjectPath, body: RuleIn) -> RuleOut:
        service = tiering_of(c.services)
        return _rule(await service.put_rule(c.actor, name, body.cold_after_days))

    @r.delete(
        "/projects/{name}/tiering",
        status_code=204,
        responses=errors(),
        summary="Remove the project's tiering rule (project administrators): its blobs "
        "come back hot at the next pass",
    )
    async def delete_rule(c: Ctx, name: ProjectPath) -> Response:
        await tiering_of(c.services).delete_rule(c.actor, name)
        return Response(status_code=204)

    return r
