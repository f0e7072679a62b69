"""Projects: every user may create one (and becomes its project_admin); quotas are set
by system administrators only; a project holding repositories cannot be deleted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from dockyard.auth import permissions as perm
from dockyard.errors import Denied, NotFound, Unauthorized
from dockyard.http.api.deps import Caller, Ctx, Paging, paged
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
from dockyard.metadata.identity import ProjectRecord

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


async def _visible_names(c: Caller) -> tuple[list[str] | None, bool]:
    """(projects the caller belongs to, or None for all; whether public ones show too)."""
    p = c.principal
    if p.spans_all_projects:
        return None, True
    if p.kind == "robot":
        named = {g.project for g in p.grants} | ({p.robot_project} if p.robot_project else set())
        return sorted(named), True
    if p.kind == "user":
        members = await c.services.identity.memberships(p.name, p.groups)
        return sorted({m.project for m in members}), True
    if not c.services.settings.auth.anonymous_pull:
        raise Unauthorized("authentication required")
    return [], True


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
) -> list[ProjectOut]:
    store = c.services.identity
    names, with_public = await _visible_names(c)
    if names is None or public is True:
        found, total = await store.list_projects(q or None, None, public, page)
    elif public is False:
        private = [n for n in names if (rec := await store.get_project(n)) and not rec.public]
        found, total = await store.list_projects(q or None, private, None, page)
    else:
        found, total = await store.list_projects(q or None, names, with_public, page)
    paged(request, response, page, total)
    return [project_out(p) for p in found]


@router.post(
    "",
    status_code=201,
    responses=errors(409),
    summary="Create a project; its creator becomes project_admin",
)
async def create_project(c: Ctx, body: ProjectCreate) -> ProjectOut:
    c.require_user("create projects")
    if body.quota_bytes is not None and not c.principal.is_admin:
        raise Denied("only a system administrator may set a quota")
    store = c.services.identity
    project = await store.create_project(
        body.name, public=body.public, quota_bytes=body.quota_bytes
    )
    try:
        await store.add_member(project.name, "user", c.principal.name, "project_admin", None)
    except BaseException:
        await store.delete_project(project.name)
        raise
    await c.audit(
        "project.create",
        project.name,
        project=project.name,
        detail={"public": project.public, "quota_bytes": project.quota_bytes},
    )
    return project_out(project)


@router.get(
    "/{name}", responses=errors(), openapi_extra=OPTIONAL, summary="A project with its usage"
)
async def get_project(c: Ctx, name: ProjectPath) -> ProjectOut:
    return project_out(await c.project(name, perm.READ_PROJECT))


@router.patch(
    "/{name}",
    responses=errors(),
    summary="Make public or private (project_admin); set the quota (administrators)",
)
async def update_project(c: Ctx, name: ProjectPath, body: ProjectUpdate) -> ProjectOut:
    project = await c.project(name, perm.READ_PROJECT)
    changes: dict[str, object] = {}
    if body.public is not None:
        await c.project(name, perm.UPDATE_PROJECT)
        changes["public"] = body.public
    if "quota_bytes" in body.model_fields_set:
        c.require_admin("set a quota")
        changes["quota_bytes"] = body.quota_bytes
    if not changes:
        return project_out(project)
    updated = await c.services.identity.update_project(name, **changes)
    if updated is None:
        raise NotFound(f"project {name!r} not found")
    await c.audit("project.update", name, project=name, detail=dict(changes))
    return project_out(updated)


@router.delete(
    "/{name}",
    status_code=204,
    responses=errors(409),
    summary="Delete an empty project (project_admin)",
)
async def delete_project(c: Ctx, name: ProjectPath) -> Response:
    await c.project(name, perm.DELETE_PROJECT)
    if not await c.services.identity.delete_project(name):
        raise NotFound(f"project {name!r} not found")
    await c.audit("project.delete", name, project=name)
    return Response(status_code=204)


@router.get("/{name}/quota", responses=errors(), openapi_extra=OPTIONAL, summary="Quota and usage")
async def get_quota(c: Ctx, name: ProjectPath) -> Quota:
    project = await c.project(name, perm.READ_PROJECT)
    return Quota(quota_bytes=project.quota_bytes, used_bytes=project.used_bytes)


@router.put("/{name}/quota", responses=errors(), summary="Set the quota (administrators)")
async def set_quota(c: Ctx, name: ProjectPath, body: QuotaUpdate) -> Quota:
    await c.project(name, perm.READ_PROJECT)
    c.require_admin("set a quota")
    updated = await c.services.identity.update_project(name, quota_bytes=body.quota_bytes)
    if updated is None:
        raise NotFound(f"project {name!r} not found")
    await c.audit(
        "project.quota", f"{name}/quota", project=name, detail={"quota_bytes": body.quota_bytes}
    )
    return Quota(quota_bytes=updated.quota_bytes, used_bytes=updated.used_bytes)
