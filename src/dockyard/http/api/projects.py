"""Projects: every user may create one (and becomes its project_admin); quotas are set
by system administrators only; a project holding repositories cannot be deleted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from dockyard.accounts.projects import UNCHANGED
from dockyard.http.api.deps import Ctx, Paging, paged
from dockyard.http.api.docs import OPTIONAL, errors, listing
from dockyard.http.api.models import (
    NAME,
    NO_CONTROL,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    Quota,
    QuotaUpdate,
)
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import ProjectRecord, ProjectSort

router = APIRouter(prefix=f"{PREFIX}/projects", tags=["projects"])

ProjectPath = Annotated[
    str,
    Path(min_length=1, max_length=255, pattern=NAME, examples=["team-a"], description="a project"),
]


def project_out(p: ProjectRecord) -> ProjectOut:
    return ProjectOut(
        name=p.name,
        public=p.public,
        quota_bytes=p.quota_bytes,
        used_bytes=p.used_bytes,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


@router.get(
    "",
    responses=listing(),
    openapi_extra=OPTIONAL,
    summary="Projects the caller can see: all for administrators; else public and own",
)
async def list_projects(
    c: Ctx,
    request: Request,
    response: Response,
    page: Paging,
    q: Annotated[
        str | None, Query(max_length=255, pattern=NO_CONTROL, description="part of the name")
    ] = None,
    public: Annotated[bool | None, Query(description="only public (true) or private")] = None,
    sort: Annotated[
        ProjectSort,
        Query(
            description="`name`, `created`, `size` (the bytes it uses), ascending; "
            "`-name`, `-created`, `-size` descending; ties by name, the same way"
        ),
    ] = "name",
) -> list[ProjectOut]:
    found, total = await c.services.projects.list_projects(c.actor, q or None, public, page, sort)
    paged(request, response, page, total)
    return [project_out(p) for p in found]


@router.post(
    "",
    status_code=201,
    responses=errors(409),
    summary="Create a project; its creator becomes project_admin",
)
async def create_project(c: Ctx, body: ProjectCreate) -> ProjectOut:
    project = await c.services.projects.create(
        c.actor, body.name, public=body.public, quota_bytes=body.quota_bytes
    )
    return project_out(project)


@router.get(
    "/{name}", responses=errors(), openapi_extra=OPTIONAL, summary="A project with its usage"
)
async def get_project(c: Ctx, name: ProjectPath) -> ProjectOut:
    return project_out(await c.services.projects.get(c.actor, name))


@router.patch(
    "/{name}",
    responses=errors(),
    summary="Make public or private (project_admin); set the quota (administrators)",
)
async def update_project(c: Ctx, name: ProjectPath, body: ProjectUpdate) -> ProjectOut:
    quota = body.quota_bytes if "quota_bytes" in body.model_fields_set else UNCHANGED
    project = await c.services.projects.update(c.actor, name, public=body.public, quota_bytes=quota)
    return project_out(project)


@router.delete(
    "/{name}",
    status_code=204,
    responses=errors(409),
    summary="Delete an empty project (project_admin)",
)
async def delete_project(c: Ctx, name: ProjectPath) -> Response:
    await c.services.projects.delete(c.actor, name)
    return Response(status_code=204)


@router.get("/{name}/quota", responses=errors(), openapi_extra=OPTIONAL, summary="Quota and usage")
async def get_quota(c: Ctx, name: ProjectPath) -> Quota:
    project = await c.services.projects.get(c.actor, name)
    return Quota(quota_bytes=project.quota_bytes, used_bytes=project.used_bytes)


@router.put("/{name}/quota", responses=errors(), summary="Set the quota (administrators)")
async def set_quota(c: Ctx, name: ProjectPath, body: QuotaUpdate) -> Quota:
    updated = await c.services.projects.set_quota(c.actor, name, body.quota_bytes)
    return Quota(quota_bytes=updated.quota_bytes, used_bytes=updated.used_bytes)
