"""Robot accounts. System robots (`robot$<name>`, administrators only) may be granted
any project or "*"; project robots (`robot$<project>+<name>`, READ_ROBOTS /
MANAGE_ROBOTS) only their own project. A secret is returned once, at creation and
at rotation; only its hash is stored. Per-robot routes take the full or short name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from dockyard.auth import permissions as perm
from dockyard.auth.passwords import hash_secret, new_secret
from dockyard.auth.service import ROBOT_PREFIX
from dockyard.errors import Conflict, Denied, NotFound
from dockyard.http.api.deps import Caller, Ctx, Paging, page_of, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import (
    ROBOT_PATH,
    Grant,
    GrantOut,
    RobotCreate,
    RobotOut,
    RobotSecret,
    RobotUpdate,
)
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import Grant as GrantRecord
from dockyard.metadata.identity import RobotRecord

system = APIRouter(prefix=f"{PREFIX}/robots", tags=["robots"])
in_project = APIRouter(prefix=PREFIX + "/projects/{name}/robots", tags=["robots"])

RobotPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=ROBOT_PATH,
        examples=["ci"],
        description="the robot's full name (`robot$team-a+ci`) or its short name (`ci`)",
    ),
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def full_name(project: str | None, name: str) -> str:
    if name.startswith(ROBOT_PREFIX):
        return name
    return f"{ROBOT_PREFIX}{name}" if project is None else f"{ROBOT_PREFIX}{project}+{name}"


def grant_out(g: GrantRecord) -> GrantOut:
    return GrantOut(project=g.project, repositories=list(g.repositories), actions=sorted(g.actions))


def robot_out(r: RobotRecord) -> RobotOut:
    return RobotOut(
        name=r.name,
        project=r.project,
        description=r.description,
        permissions=[grant_out(g) for g in r.permissions],
        expires_at=r.expires_at,
        expired=r.expires_at is not None and r.expires_at <= _now(),
        disabled=r.disabled,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _resource(r: RobotRecord) -> str:
    return f"robot/{r.name}" if r.project is None else f"{r.project}/robots/{r.name}"


async def _allowed(c: Caller, project: str | None, manage: bool) -> None:
    if project is None:
        c.require_admin("manage system robots")
    else:
        await c.project(project, perm.MANAGE_ROBOTS if manage else perm.READ_ROBOTS)


async def _robot(c: Caller, project: str | None, name: str) -> RobotRecord:
    robot = await c.services.identity.get_robot(full_name(project, name))
    if robot is None or robot.project != project:
        raise NotFound(f"robot {name!r} not found")
    return robot


async def _grants(c: Caller, project: str | None, grants: list[Grant]) -> tuple[GrantRecord, ...]:
    for g in grants:
        if project is not None and g.project != project:
            raise Denied(f"a robot of {project!r} may only be granted access to {project!r}")
        if g.project != "*" and await c.services.identity.get_project(g.project) is None:
            raise NotFound(f"project {g.project!r} not found")
    return tuple(
        GrantRecord(
            project=g.project, actions=frozenset(g.actions), repositories=tuple(g.repositories)
        )
        for g in grants
    )


def _expiry(days: int | None) -> dt.datetime | None:
    return None if days is None else _now() + dt.timedelta(days=days)


async def _list(
    c: Caller, project: str | None, request: Request, response: Response, page: Paging
) -> list[RobotOut]:
    await _allowed(c, project, manage=False)
    robots = await c.services.identity.list_robots(project)
    paged(request, response, page, len(robots))
    return [robot_out(r) for r in page_of(robots, page)]


async def _create(c: Caller, project: str | None, body: RobotCreate) -> RobotSecret:
    await _allowed(c, project, manage=True)
    name = full_name(project, body.name)
    if len(name) > 255:  # the name is fine alone: it clashes with a long project name
        raise Conflict(f"the robot's full name {name[:40]}… would be over 255 characters")
    grants = await _grants(c, project, body.permissions)
    secret = new_secret()
    robot = await c.services.identity.create_robot(
        name,
        project=project,
        description=body.description,
        secret_hash=hash_secret(secret),
        permissions=grants,
        expires_at=_expiry(body.expires_in_days),
        created_by=c.principal.name,
    )
    await c.audit("robot.create", _resource(robot), project=project, detail=_detail(robot))
    return RobotSecret(**robot_out(robot).model_dump(), secret=secret)


def _detail(r: RobotRecord) -> dict[str, Any]:
    return {
        "permissions": [g.to_json() for g in r.permissions],
        "expires_at": None if r.expires_at is None else r.expires_at.isoformat(),
        "disabled": r.disabled,
    }


async def _get(c: Caller, project: str | None, name: str) -> RobotOut:
    await _allowed(c, project, manage=False)
    return robot_out(await _robot(c, project, name))


async def _update(c: Caller, project: str | None, name: str, body: RobotUpdate) -> RobotOut:
    await _allowed(c, project, manage=True)
    robot = await _robot(c, project, name)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if body.description is not None:
        changes["description"] = body.description
    if body.permissions is not None:
        changes["permissions"] = await _grants(c, project, body.permissions)
    if body.disabled is not None:
        changes["disabled"] = body.disabled
    if "expires_in_days" in given:
        changes["expires_at"] = _expiry(body.expires_in_days)
    if changes:
        updated = await c.services.identity.update_robot(robot.name, **changes)
        if updated is None:
            raise NotFound(f"robot {name!r} not found")
        robot = updated
        detail = {"changed": sorted(changes), **_detail(robot)}
        await c.audit("robot.update", _resource(robot), project=project, detail=detail)
    return robot_out(robot)


async def _delete(c: Caller, project: str | None, name: str) -> Response:
    await _allowed(c, project, manage=True)
    robot = await _robot(c, project, name)
    if not await c.services.identity.delete_robot(robot.name):
        raise NotFound(f"robot {name!r} not found")
    await c.audit("robot.delete", _resource(robot), project=project)
    return Response(status_code=204)


async def _rotate(c: Caller, project: str | None, name: str) -> RobotSecret:
    await _allowed(c, project, manage=True)
    robot = await _robot(c, project, name)
    secret = new_secret()
    updated = await c.services.identity.update_robot(robot.name, secret_hash=hash_secret(secret))
    if updated is None:
        raise NotFound(f"robot {name!r} not found")
    await c.audit("robot.rotate", _resource(updated), project=project)
    return RobotSecret(**robot_out(updated).model_dump(), secret=secret)


# -- system robots --------------------------------------------------------------


@system.get("", responses=listing(), summary="System robots (administrators)")
async def list_system_robots(
    c: Ctx, request: Request, response: Response, page: Paging
) -> list[RobotOut]:
    return await _list(c, None, request, response, page)


@system.post("", status_code=201, responses=errors(409), summary="Create a system robot")
async def create_system_robot(c: Ctx, body: RobotCreate) -> RobotSecret:
    return await _create(c, None, body)


@system.get("/{robot}", responses=errors(), summary="A system robot")
async def get_system_robot(c: Ctx, robot: RobotPath) -> RobotOut:
    return await _get(c, None, robot)


@system.patch("/{robot}", responses=errors(), summary="Change, disable or re-date a system robot")
async def update_system_robot(c: Ctx, robot: RobotPath, body: RobotUpdate) -> RobotOut:
    return await _update(c, None, robot, body)


@system.delete("/{robot}", status_code=204, responses=errors(), summary="Delete a system robot")
async def delete_system_robot(c: Ctx, robot: RobotPath) -> Response:
    return await _delete(c, None, robot)


@system.post("/{robot}/secret", responses=errors(), summary="Rotate a system robot's secret")
async def rotate_system_robot(c: Ctx, robot: RobotPath) -> RobotSecret:
    return await _rotate(c, None, robot)


# -- project robots -------------------------------------------------------------


@in_project.get("", responses=listing(), summary="Robots of a project (maintainer and up)")
async def list_project_robots(
    c: Ctx, name: ProjectPath, request: Request, response: Response, page: Paging
) -> list[RobotOut]:
    return await _list(c, name, request, response, page)


@in_project.post("", status_code=201, responses=errors(409), summary="Create a project robot")
async def create_project_robot(c: Ctx, name: ProjectPath, body: RobotCreate) -> RobotSecret:
    return await _create(c, name, body)


@in_project.get("/{robot}", responses=errors(), summary="A project robot")
async def get_project_robot(c: Ctx, name: ProjectPath, robot: RobotPath) -> RobotOut:
    return await _get(c, name, robot)


@in_project.patch(
    "/{robot}", responses=errors(), summary="Change, disable or re-date a project robot"
)
async def update_project_robot(
    c: Ctx, name: ProjectPath, robot: RobotPath, body: RobotUpdate
) -> RobotOut:
    return await _update(c, name, robot, body)


@in_project.delete(
    "/{robot}", status_code=204, responses=errors(), summary="Delete a project robot"
)
async def delete_project_robot(c: Ctx, name: ProjectPath, robot: RobotPath) -> Response:
    return await _delete(c, name, robot)


@in_project.post("/{robot}/secret", responses=errors(), summary="Rotate a project robot's secret")
async def rotate_project_robot(c: Ctx, name: ProjectPath, robot: RobotPath) -> RobotSecret:
    return await _rotate(c, name, robot)
