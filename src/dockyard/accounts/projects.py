"""Projects: every user may create one (and becomes its project_admin); quotas are set
by system administrators only; a project holding repositories cannot be deleted.
Members: users or groups with a role, optionally limited to repository globs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.accounts.guard import Actor, Guard
from dockyard.auth import permissions as perm
from dockyard.errors import NotFound, Unauthorized
from dockyard.metadata.identity import (
    MemberKind,
    MemberRecord,
    Page,
    ProjectRecord,
    ProjectSort,
)
from dockyard.metadata.identity_stores import Identity

UNCHANGED: Any = object()


class ProjectService:
    def __init__(self, identity: Identity, guard: Guard, *, anonymous_pull: bool) -> None:
        self._identity = identity
        self._guard = guard
        self._anonymous_pull = anonymous_pull

    async def _visible_names(self, actor: Actor) -> tuple[list[str] | None, bool]:
        """(projects the actor belongs to, or None for all; whether public ones show)."""
        p = actor.principal
        if p.spans_all_projects:
            return None, True
        if p.kind == "robot":
            named = {g.project for g in p.grants}
            if p.robot_project:
                named.add(p.robot_project)
            return sorted(named), True
        if p.kind == "user":
            members = await self._identity.projects.memberships(p.name, p.groups)
            return sorted({m.project for m in members}), True
        if not self._anonymous_pull:
            raise Unauthorized("authentication required")
        return [], True

    async def list_projects(
        self,
        actor: Actor,
        query: str | None,
        public: bool | None,
        page: Page,
        sort: ProjectSort = "name",
    ) -> tuple[list[ProjectRecord], int]:
        """Projects the actor can see: all for administrators; else public and own."""
        store = self._identity.projects
        names, with_public = await self._visible_names(actor)
        if names is None or public is True:
            return await store.list_projects(query, None, public, page, sort)
        if public is False:
            private = [n for n in names if (rec := await store.get_project(n)) and not rec.public]
            return await store.list_projects(query, private, None, page, sort)
        return await store.list_projects(query, names, with_public, page, sort)

    async def create(
        self, actor: Actor, name: str, *, public: bool = False, quota_bytes: int | None = None
    ) -> ProjectRecord:
        self._guard.user(actor, "create projects")
        if quota_bytes is not None:
            self._guard.admin(actor, "set a quota")
        store = self._identity.projects
        project = await store.create_project(name, public=public, quota_bytes=quota_bytes)
        try:
            await store.add_member(project.name, "user", actor.name, "project_admin", None)
        except BaseException:
            await store.delete_project(project.name)
            raise
        await self._guard.record(
            actor,
            "project.create",
            project.name,
            project=project.name,
            detail={"public": project.public, "quota_bytes": project.quota_bytes},
        )
        return project

    async def get(self, actor: Actor, name: str) -> ProjectRecord:
        return await self._guard.project(actor, name, perm.READ_PROJECT)

    async def update(
        self, actor: Actor, name: str, *, public: bool | None = None, quota_bytes: Any = UNCHANGED
    ) -> ProjectRecord:
        """Make public or private (project_admin); set the quota (administrators)."""
        project = await self._guard.project(actor, name, perm.READ_PROJECT)
        changes: dict[str, object] = {}
        if public is not None:
            await self._guard.project(actor, name, perm.UPDATE_PROJECT)
            changes["public"] = public
        if quota_bytes is not UNCHANGED:
            self._guard.admin(actor, "set a quota")
            changes["quota_bytes"] = quota_bytes
        if not changes:
            return project
        updated = await self._identity.projects.update_project(name, **changes)
        if updated is None:
            raise NotFound(f"project {name!r} not found")
        await self._guard.record(actor, "project.update", name, project=name, detail=changes)
        return updated

    async def set_quota(self, actor: Actor, name: str, quota_bytes: int | None) -> ProjectRecord:
        await self._guard.project(actor, name, perm.READ_PROJECT)
        self._guard.admin(actor, "set a quota")
        updated = await self._identity.projects.update_project(name, quota_bytes=quota_bytes)
        if updated is None:
            raise NotFound(f"project {name!r} not found")
        await self._guard.record(
            actor,
            "project.quota",
            f"{name}/quota",
            project=name,
            detail={"quota_bytes": quota_bytes},
        )
        return updated

    async def delete(self, actor: Actor, name: str) -> None:
        await self._guard.project(actor, name, perm.DELETE_PROJECT)
        if not await self._identity.projects.delete_project(name):
            raise NotFound(f"project {name!r} not found")
        await self._guard.record(actor, "project.delete", name, project=name)


def _detail(m: MemberRecord) -> dict[str, object]:
    repos = None if m.repositories is None else list(m.repositories)
    return {"id": m.id, "kind": m.kind, "name": m.name, "role": m.role, "repositories": repos}


class MemberService:
    def __init__(self, identity: Identity, guard: Guard) -> None:
        self._identity = identity
        self._guard = guard

    async def list_members(self, actor: Actor, project: str) -> list[MemberRecord]:
        await self._guard.project(actor, project, perm.READ_MEMBERS)
        return await self._identity.projects.list_members(project)

    async def _member(self, project: str, member_id: int) -> MemberRecord:
        for m in await self._identity.projects.list_members(project):
            if m.id == member_id:
                return m
        raise NotFound(f"member {member_id} not found in {project!r}")

    async def get(self, actor: Actor, project: str, member_id: int) -> MemberRecord:
        await self._guard.project(actor, project, perm.READ_MEMBERS)
        return await self._member(project, member_id)

    async def add(
        self,
        actor: Actor,
        project: str,
        kind: MemberKind,
        name: str,
        role: str,
        repositories: Sequence[str] | None,
    ) -> MemberRecord:
        await self._guard.project(actor, project, perm.MANAGE_MEMBERS)
        if kind == "user":
            user = await self._identity.users.get_user(name)
            if user is None:
                raise NotFound(f"user {name!r} not found")
            name = user.username  # names ignore case: the member is the user as stored
        member = await self._identity.projects.add_member(project, kind, name, role, repositories)
        await self._guard.record(
            actor,
            "member.add",
            f"{project}/members/{member.id}",
            project=project,
            detail=_detail(member),
        )
        return member

    async def update(
        self,
        actor: Actor,
        project: str,
        member_id: int,
        *,
        role: str | None = None,
        repositories: Any = UNCHANGED,
    ) -> MemberRecord:
        await self._guard.project(actor, project, perm.MANAGE_MEMBERS)
        current = await self._member(project, member_id)
        repos = current.repositories if repositories is UNCHANGED else repositories
        updated = await self._identity.projects.update_member(
            project, member_id, role or current.role, repos
        )
        if updated is None:
            raise NotFound(f"member {member_id} not found in {project!r}")
        await self._guard.record(
            actor,
            "member.update",
            f"{project}/members/{member_id}",
            project=project,
            detail=_detail(updated),
        )
        return updated

    async def remove(self, actor: Actor, project: str, member_id: int) -> None:
        await self._guard.project(actor, project, perm.MANAGE_MEMBERS)
        current = await self._member(project, member_id)
        if not await self._identity.projects.remove_member(project, member_id):
            raise NotFound(f"member {member_id} not found in {project!r}")
        await self._guard.record(
            actor,
            "member.remove",
            f"{project}/members/{member_id}",
            project=project,
            detail=_detail(current),
        )
