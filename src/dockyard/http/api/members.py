"""Project members: users (who must exist) and groups (as LDAP or OIDC name them),
each with a role and optionally limited to some repositories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from dockyard.accounts.projects import UNCHANGED
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


@router.get("", responses=listing(), summary="Members of a project (guest and up)")
async def list_members(
    c: Ctx, name: ProjectPath, request: Request, response: Response, page: Paging
) -> list[MemberOut]:
    members = await c.services.members.list_members(c.actor, name)
    paged(request, response, page, len(members))
    return [member_out(m) for m in page_of(members, page)]


@router.post(
    "",
    status_code=201,
    responses=errors(409),
    summary="Add a user or group with a role (project_admin)",
)
async def add_member(c: Ctx, name: ProjectPath, body: MemberCreate) -> MemberOut:
    member = await c.services.members.add(
        c.actor, name, body.kind, body.name, body.role, body.repositories
    )
    return member_out(member)


@router.get("/{member_id}", responses=errors(), summary="One member (guest and up)")
async def get_member(c: Ctx, name: ProjectPath, member_id: MemberId) -> MemberOut:
    return member_out(await c.services.members.get(c.actor, name, member_id))


@router.patch(
    "/{member_id}", responses=errors(), summary="Change role or repositories (project_admin)"
)
async def update_member(
    c: Ctx, name: ProjectPath, member_id: MemberId, body: MemberUpdate
) -> MemberOut:
    repos = body.repositories if "repositories" in body.model_fields_set else UNCHANGED
    updated = await c.services.members.update(
        c.actor, name, member_id, role=body.role, repositories=repos
    )
    return member_out(updated)


@router.delete(
    "/{member_id}", status_code=204, responses=errors(), summary="Remove a member (project_admin)"
)
async def remove_member(c: Ctx, name: ProjectPath, member_id: MemberId) -> Response:
    await c.services.members.remove(c.actor, name, member_id)
    return Response(status_code=204)
