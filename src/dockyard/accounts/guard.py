"""Who is acting, and may they: the management surface's authorization, and the
audit trail of what they did.

Visibility of projects: a project the actor has no access to at all answers exactly
as one that does not exist (401 for anonymous actors, 404 for authenticated ones).
Only when the project is visible does a missing permission answer 403 DENIED, so
private project names never leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.auth.audit import AuditLog
from dockyard.auth.permissions import Principal
from dockyard.auth.service import AuthService
from dockyard.errors import Denied, NotFound, Unauthorized
from dockyard.metadata.identity import AuditEvent, ProjectRecord
from dockyard.metadata.identity_stores import Identity


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and from where (for the audit trail)."""

    principal: Principal
    address: str = ""

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


class Guard:
    def __init__(self, auth: AuthService, identity: Identity, audit: AuditLog) -> None:
        self._auth = auth
        self._identity = identity
        self._audit = audit

    @staticmethod
    def login(actor: Actor) -> None:
        if actor.principal.anonymous:
            raise Unauthorized("authentication required")

    def admin(self, actor: Actor, what: str) -> None:
        self.login(actor)
        if not actor.principal.is_admin:
            raise Denied(f"only a system administrator may {what}")

    def user(self, actor: Actor, what: str) -> None:
        self.login(actor)
        if actor.principal.kind != "user":
            raise Denied(f"only users may {what}")

    async def project(self, actor: Actor, name: str, action: str | None) -> ProjectRecord:
        """The project, if the actor may take `action` on it, or just see it when
        `action` is None (see the module docstring for how missing access answers)."""
        principal = actor.principal
        actions = await self._auth.project_actions(principal, name)
        if not actions:
            if principal.anonymous:
                raise Unauthorized("authentication required")
            raise NotFound(f"project {name!r} not found")
        if action is not None and action not in actions:
            if principal.anonymous:
                raise Unauthorized("authentication required")
            raise Denied(f"{principal.name} may not {action.replace('_', ' ')} in {name!r}")
        project = await self._identity.projects.get_project(name)
        if project is None:
            raise NotFound(f"project {name!r} not found")
        return project

    async def repository(self, actor: Actor, repository: str, action: str) -> None:
        """Raise unless the actor may take `action` on `repository`."""
        actions = await self._auth.actions_on(actor.principal, repository)
        if action not in actions:
            if actor.principal.anonymous:
                raise Unauthorized("authentication required")
            raise Denied(f"{actor.principal.name} may not {action.replace('_', ' ')} {repository}")

    async def record(
        self,
        actor: Actor,
        action: str,
        resource: str,
        *,
        project: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self._audit.write(
            AuditEvent(
                actor=actor.principal.name,
                actor_kind=actor.principal.kind,
                address=actor.address,
                action=action,
                resource=resource,
                project=project,
                detail=detail,
            )
        )
