"""Robot accounts. System robots (`robot$<name>`, administrators only) may be granted
any project or "*"; project robots (`robot$<project>+<name>`, READ_ROBOTS /
MANAGE_ROBOTS) only their own project. A secret is returned once, at creation and at
rotation; only its hash is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.accounts.guard import Actor, Guard
from dockyard.auth import permissions as perm
from dockyard.auth.passwords import hash_secret, new_secret
from dockyard.auth.service import ROBOT_PREFIX
from dockyard.errors import Conflict, Denied, NotFound
from dockyard.metadata.identity import Grant, Page, RobotRecord, RobotSort
from dockyard.metadata.identity_stores import Identity

UNCHANGED: Any = object()
"""A field of RobotChanges the caller did not give."""


@dataclass(frozen=True, slots=True)
class NewRobot:
    name: str
    permissions: Sequence[Grant]
    description: str = ""
    expires_in_days: int | None = None


@dataclass(frozen=True, slots=True)
class RobotChanges:
    description: str | None = None
    permissions: Sequence[Grant] | None = None
    disabled: bool | None = None
    expires_in_days: int | None = UNCHANGED


def full_name(project: str | None, name: str) -> str:
    if name.startswith(ROBOT_PREFIX):
        return name
    return f"{ROBOT_PREFIX}{name}" if project is None else f"{ROBOT_PREFIX}{project}+{name}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expiry(days: int | None) -> dt.datetime | None:
    return None if days is None else _now() + dt.timedelta(days=days)


def _resource(r: RobotRecord) -> str:
    return f"robot/{r.name}" if r.project is None else f"{r.project}/robots/{r.name}"


def _detail(r: RobotRecord) -> dict[str, Any]:
    return {
        "permissions": [g.to_json() for g in r.permissions],
        "expires_at": None if r.expires_at is None else r.expires_at.isoformat(),
        "disabled": r.disabled,
    }


class RobotService:
    def __init__(self, identity: Identity, guard: Guard) -> None:
        self._identity = identity
        self._guard = guard

    async def _allowed(self, actor: Actor, project: str | None, manage: bool) -> None:
        if project is None:
            self._guard.admin(actor, "manage system robots")
        else:
            await self._guard.project(
                actor, project, perm.MANAGE_ROBOTS if manage else perm.READ_ROBOTS
            )

    async def _robot(self, project: str | None, name: str) -> RobotRecord:
        robot = await self._identity.robots.get_robot(full_name(project, name))
        if robot is None or robot.project != project:
            raise NotFound(f"robot {name!r} not found")
        return robot

    async def _grants(self, project: str | None, grants: Sequence[Grant]) -> tuple[Grant, ...]:
        for g in grants:
            if project is not None and g.project != project:
                raise Denied(f"a robot of {project!r} may only be granted access to {project!r}")
            if g.project != "*" and await self._identity.projects.get_project(g.project) is None:
                raise NotFound(f"project {g.project!r} not found")
        return tuple(grants)

    async def list_robots(
        self,
        actor: Actor,
        project: str | None,
        page: Page,
        query: str | None = None,
        sort: RobotSort = "name",
    ) -> tuple[list[RobotRecord], int]:
        """A page of the robots, and how many: `query` is part of the short name (what
        follows `robot$` or `robot$<project>+`)."""
        await self._allowed(actor, project, manage=False)
        return await self._identity.robots.list_robots(
            project, page, query=query, prefix=full_name(project, ""), sort=sort
        )

    async def get(self, actor: Actor, project: str | None, name: str) -> RobotRecord:
        await self._allowed(actor, project, manage=False)
        return await self._robot(project, name)

    async def create(
        self, actor: Actor, project: str | None, new: NewRobot
    ) -> tuple[RobotRecord, str]:
        """The robot and its secret, which is never stored, only its hash."""
        await self._allowed(actor, project, manage=True)
        name = full_name(project, new.name)
        if len(name) > 255:  # the name is fine alone: it clashes with a long project name
            raise Conflict(f"the robot's full name {name[:40]}… would be over 255 characters")
        grants = await self._grants(project, new.permissions)
        secret = new_secret()
        robot = await self._identity.robots.create_robot(
            name,
            project=project,
            description=new.description,
            secret_hash=hash_secret(secret),
            permissions=grants,
            expires_at=_expiry(new.expires_in_days),
            created_by=actor.name,
        )
        await self._guard.record(
            actor, "robot.create", _resource(robot), project=project, detail=_detail(robot)
        )
        return robot, secret

    async def update(
        self, actor: Actor, project: str | None, name: str, changes: RobotChanges
    ) -> RobotRecord:
        await self._allowed(actor, project, manage=True)
        robot = await self._robot(project, name)
        fields: dict[str, Any] = {}
        if changes.description is not None:
            fields["description"] = changes.description
        if changes.permissions is not None:
            fields["permissions"] = await self._grants(project, changes.permissions)
        if changes.disabled is not None:
            fields["disabled"] = changes.disabled
        if changes.expires_in_days is not UNCHANGED:
            fields["expires_at"] = _expiry(changes.expires_in_days)
        if not fields:
            return robot
        updated = await self._identity.robots.update_robot(robot.name, **fields)
        if updated is None:
            raise NotFound(f"robot {name!r} not found")
        detail = {"changed": sorted(fields), **_detail(updated)}
        await self._guard.record(
            actor, "robot.update", _resource(updated), project=project, detail=detail
        )
        return updated

    async def delete(self, actor: Actor, project: str | None, name: str) -> None:
        await self._allowed(actor, project, manage=True)
        robot = await self._robot(project, name)
        if not await self._identity.robots.delete_robot(robot.name):
            raise NotFound(f"robot {name!r} not found")
        await self._guard.record(actor, "robot.delete", _resource(robot), project=project)

    async def rotate(self, actor: Actor, project: str | None, name: str) -> tuple[RobotRecord, str]:
        """A new secret; the old one stops working at once."""
        await self._allowed(actor, project, manage=True)
        robot = await self._robot(project, name)
        secret = new_secret()
        robots = self._identity.robots
        updated = await robots.update_robot(robot.name, secret_hash=hash_secret(secret))
        if updated is None:
            raise NotFound(f"robot {name!r} not found")
        await self._guard.record(actor, "robot.rotate", _resource(updated), project=project)
        return updated, secret
