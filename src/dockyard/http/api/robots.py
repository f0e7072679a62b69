"""Robot accounts. System robots (`robot$<name>`, administrators only) may be granted
any project or "*"; project robots (`robot$<project>+<name>`, READ_ROBOTS /
MANAGE_ROBOTS) only their own project. A secret is returned once, at creation and
at rotation; only its hash is stored. Per-robot routes take the full or short name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from dockyard.accounts.robots import UNCHANGED, NewRobot, RobotChanges
from dockyard.http.api.deps import Caller, Ctx, Paging, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import (
    NO_CONTROL,
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
from dockyard.metadata.identity import RobotRecord, RobotSort

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


RobotSearch = Annotated[
    str | None,
    Query(
        max_length=255,
        pattern=NO_CONTROL,
        description="part of the short name (after `robot$` or `robot$<project>+`)",
    ),
]
RobotOrder = Annotated[
    RobotSort,
    Query(
        description="`name`, `created`, `expires`, ascending; `-name`, `-created`, "
        "`-expires` descending; robots that never expire last either way; ties by name, "
        "the same way"
    ),
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


def _grants(grants: list[Grant]) -> tuple[GrantRecord, ...]:
    return tuple(
        GrantRecord(
            project=g.project, actions=frozenset(g.actions), repositories=tuple(g.repositories)
        )
        for g in grants
    )


def _secret(robot: RobotRecord, secret: str) -> RobotSecret:
    return RobotSecret(**robot_out(robot).model_dump(), secret=secret)


async def _list(
    c: Caller,
    project: str | None,
    request: Request,
    response: Response,
    page: Paging,
    q: str | None,
    sort: RobotSort,
) -> list[RobotOut]:
    robots, total = await c.services.robots.list_robots(c.actor, project, page, q or None, sort)
    paged(request, response, page, total)
    return [robot_out(r) for r in robots]


async def _create(c: Caller, project: str | None, body: RobotCreate) -> RobotSecret:
    new = NewRobot(
        name=body.name,
        permissions=_grants(body.permissions),
        description=body.description,
        expires_in_days=body.expires_in_days,
    )
    return _secret(*await c.services.robots.create(c.actor, project, new))


async def _get(c: Caller, project: str | None, name: str) -> RobotOut:
    return robot_out(await c.services.robots.get(c.actor, project, name))


async def _update(c: Caller, project: str | None, name: str, body: RobotUpdate) -> RobotOut:
    changes = RobotChanges(
        description=body.description,
        permissions=None if body.permissions is None else _grants(body.permissions),
        disabled=body.disabled,
        expires_in_days=(
            body.expires_in_days if "expires_in_days" in body.model_fields_set else UNCHANGED
        ),
    )
    return robot_out(await c.services.robots.update(c.actor, project, name, changes))


async def _delete(c: Caller, project: str | None, name: str) -> Response:
    await c.services.robots.delete(c.actor, project, name)
    return Response(status_code=204)


async def _rotate(c: Caller, project: str | None, name: str) -> RobotSecret:
    return _secret(*await c.services.robots.rotate(c.actor, project, name))


# -- system robots --------------------------------------------------------------


@system.get("", responses=listing(), summary="System robots (administrators)")
async def list_system_robots(
    c: Ctx,
    request: Request,
    response: Response,
    page: Paging,
    q: RobotSearch = None,
    sort: RobotOrder = "name",
) -> list[RobotOut]:
    return await _list(c, None, request, response, page, q, sort)


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
    c: Ctx,
    name: ProjectPath,
    request: Request,
    response: Response,
    page: Paging,
    q: RobotSearch = None,
    sort: RobotOrder = "name",
) -> list[RobotOut]:
    return await _list(c, name, request, response, page, q, sort)


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
