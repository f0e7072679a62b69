"""Project members: users (who must exist) and groups (as LDAP or OIDC name them),
each with a role and optionally limited to some repositories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from dockyard.auth import permissions as perm
from dockyard.errors import NotFound
from dockyard.http.api.deps import Ctx, Paging, page_of, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import MemberCreate, MemberOut, MemberUpdate
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import MemberRecord

router = APIRouter(prefix=PREFIX + "/projects/{name}/members", tags=["members"])

MemberId = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[2], description="the member id")]


def member_out(m: MemberRecord) -> MemberOut:
    return MemberOut(
        id=m.id,
        project=m.project,
        kind=m.kind,
        name=m.name,
        role=m.role,
        repositories=None if m.repositories is None else list(m.repositories),
        created_at=m.created_at,
    )


def _detail(m: MemberRecord) -> dict[str, object]:
    repos = None if m.repositories is None else list(m.repositories)
    return {"id": m.id, "kind": m.kind, "name": m.name, "role": m.role, "repositories": repos}


@router.get("", responses=listing(), summary="Members of a project (guest and up)")
async def list_members(
    c: Ctx, name: ProjectPath, request: Request, response: Response, page: Paging
) -> list[MemberOut]:
    await c.project(name, perm.READ_MEMBERS)
    members = await c.services.identity.list_members(name)
    paged(request, response, page, len(members))
    return [member_out(m) for m in page_of(members, page)]


@router.post(
    "",
    status_code=201,
    responses=errors(409),
    summary="Add a user or group with a role (project_admin)",
)
async def add_member(c: Ctx, name: ProjectPath, body: MemberCreate) -> MemberOut:
    await c.project(name, perm.MANAGE_MEMBERS)
    if body.kind == "user" and await c.services.identity.get_user(body.name) is None:
        raise NotFound(f"user {body.name!r} not found")
    member = await c.services.identity.add_member(
        name, body.kind, body.name, body.role, body.repositories
    )
    await c.audit("member.add", f"{name}/members/{member.id}", project=name, detail=_detail(member))
    return member_out(member)


async def _member(c: Ctx, project: str, member_id: int) -> MemberRecord:
    for m in await c.services.identity.list_members(project):
        if m.id == member_id:
            return m
    raise NotFound(f"member {member_id} not found in {project!r}")


@router.get("/{member_id}", responses=errors(), summary="One member (guest and up)")
async def get_member(c: Ctx, name: ProjectPath, member_id: MemberId) -> MemberOut:
    await c.project(name, perm.READ_MEMBERS)
    return member_out(await _member(c, name, member_id))


@router.patch(
    "/{member_id}", responses=errors(), summary="Change role or repositories (project_admin)"
)
async def update_member(
    c: Ctx, name: ProjectPath, member_id: MemberId, body: MemberUpdate
) -> MemberOut:
    await c.project(name, perm.MANAGE_MEMBERS)
    current = await _member(c, name, member_id)
    role = body.role or current.role
    repos = body.repositories if "repositories" in body.model_fields_set else current.repositories
    updated = await c.services.identity.update_member(name, member_id, role, repos)
    if updated is None:
        raise NotFound(f"member {member_id} not found in {name!r}")
    await c.audit(
        "member.update", f"{name}/members/{member_id}", project=name, detail=_detail(updated)
    )
    return member_out(updated)


@router.delete(
    "/{member_id}", status_code=204, responses=errors(), summary="Remove a member (project_admin)"
)
async def remove_member(c: Ctx, name: ProjectPath, member_id: MemberId) -> Response:
    await c.project(name, perm.MANAGE_MEMBERS)
    current = await _member(c, name, member_id)
    if not await c.services.identity.remove_member(name, member_id):
        raise NotFound(f"member {member_id} not found in {name!r}")
    await c.audit(
        "member.remove", f"{name}/members/{member_id}", project=name, detail=_detail(current)
    )
    return Response(status_code=204)
