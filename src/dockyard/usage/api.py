"""`/api/v1/usage`: the dedup report — the system's (administrators), every project's
(administrators), one project's (whoever may see the project)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.http.api.deps import Ctx, Paging, page_of, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import NAME
from dockyard.http.api.routing import PREFIX
from dockyard.usage.report import Usage
from dockyard.usage.service import usage_of

router = APIRouter(prefix=PREFIX + "/usage", tags=["usage"])

Fresh = Annotated[
    bool, Query(description="compute now instead of answering from the cached report")
]
ProjectPath = Annotated[
    str, Path(min_length=1, max_length=255, pattern=NAME, description="a project")
]


class UsageOut(BaseModel):
    logical_bytes: int = Field(description="manifests plus the blobs each references, per image")
    physical_bytes: int = Field(description="manifests plus each distinct blob once")
    saved_bytes: int = Field(description="logical - physical: what deduplication saves")
    ratio: float = Field(description="logical ÷ physical")
    manifests: int
    blobs: int = Field(description="distinct blobs referenced")


class ProjectUsageOut(UsageOut):
    project: str = Field(description='the project ("" for repositories outside any)')


class SystemUsageOut(UsageOut):
    stored_bytes: int = Field(description="every blob held, referenced or not")
    stored_blobs: int
    unreferenced_bytes: int = Field(description="blobs no manifest references (GC's to reclaim)")
    projects: int
    computed_at: dt.datetime


def _out(usage: Usage) -> dict[str, object]:
    return usage.public()


@router.get("", responses=errors(), summary="The system's dedup report (administrators)")
async def system_usage(c: Ctx, fresh: Fresh = False) -> SystemUsageOut:
    report = await usage_of(c.services).system(c.actor, fresh=fresh)
    return SystemUsageOut(
        **_out(report.system),
        stored_bytes=report.stored_bytes,
        stored_blobs=report.stored_blobs,
        unreferenced_bytes=report.unreferenced_bytes,
        projects=len(report.projects),
        computed_at=report.computed_at,
    )


@router.get("/projects", responses=listing(), summary="Every project's usage (administrators)")
async def projects_usage(
    c: Ctx,
    request: Request,
    response: Response,
    page: Paging,
    sort: Annotated[
        Literal["physical", "logical", "saved", "name"], Query(description="largest first")
    ] = "physical",
    fresh: Fresh = False,
) -> list[ProjectUsageOut]:
    report = await usage_of(c.services).system(c.actor, fresh=fresh)
    rows = [ProjectUsageOut(project=name, **_out(u)) for name, u in report.projects.items()]
    if sort == "name":
        rows.sort(key=lambda row: row.project)
    else:
        rows.sort(key=lambda row: (-getattr(row, f"{sort}_bytes"), row.project))
    paged(request, response, page, len(rows))
    return page_of(rows, page)


@router.get("/projects/{name}", responses=errors(), summary="A project's usage")
async def project_usage(c: Ctx, name: ProjectPath, fresh: Fresh = False) -> ProjectUsageOut:
    usage = await usage_of(c.services).project(c.actor, name, fresh=fresh)
    return ProjectUsageOut(project=name, **_out(usage))
