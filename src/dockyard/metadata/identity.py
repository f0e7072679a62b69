"""Records and protocol for identity and access: users, projects, members, robots,
the audit log, login throttling and server secrets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

UserSource = Literal["local", "ldap", "oidc"]
MemberKind = Literal["user", "group"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    email: str | None
    source: UserSource
    password_hash: str | None
    cli_secret_hash: str | None
    is_admin: bool
    disabled: bool
    groups: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    public: bool
    quota_bytes: int | None
    used_bytes: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    project: str
    kind: MemberKind
    name: str
    role: str
    repositories: tuple[str, ...] | None
    """globs of repository paths inside the project the role covers; None = all"""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """What a robot may do: `actions` on repositories matching `repositories` (globs of
    the path inside the project; empty = all) in projects matching `project`
    (a name, or "*" for every project)."""

    project: str
    actions: frozenset[str]
    repositories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "actions": sorted(self.actions),
            "repositories": list(self.repositories),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Grant:
        return cls(
            project=str(raw["project"]),
            actions=frozenset(raw.get("actions") or ()),
            repositories=tuple(raw.get("repositories") or ()),
        )


@dataclass(frozen=True, slots=True)
class RobotRecord:
    id: int
    name: str
    project: str | None
    """the project a project-level robot belongs to; None for a system robot"""
    description: str
    secret_hash: str
    permissions: tuple[Grant, ...]
    expires_at: datetime | None
    disabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor: str
    actor_kind: str
    address: str
    action: str
    resource: str
    outcome: str = "ok"
    project: str | None = None
    detail: dict[str, Any] | None = None
    at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    project: str | None = None
    projects: Sequence[str] | None = None
    """restrict to these projects (a non-admin's view); None = no restriction"""
    resource_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page:
    number: int = 1
    size: int = 50

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    name: str
    project: str
    artifact_count: int
    tag_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    """manifest bytes plus the blobs it references directly"""
    tags: tuple[str, ...]
    created_at: datetime
    content: bytes = field(repr=False, default=b"")


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """Backoff for failed logins under one key: `free` attempts without waiting, then
    `base` seconds, doubling per further failure up to `cap`; failures older than
    `window` seconds are forgotten."""

    free: int
    base: float
    cap: float
    window: float

    def delay(self, failures: int) -> float:
        """Seconds the next attempt must wait after `failures` failures."""
        if failures < self.free:
            return 0.0
        return float(min(self.base * 2 ** min(failures - self.free, 64), self.cap))


class IdentityStore(Protocol):
    # users
    async def create_user(
        self,
        username: str,
        *,
        source: UserSource,
        password_hash: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        groups: Sequence[str] = (),
    ) -> UserRecord:
        """Raises Conflict when the name is taken."""
        ...

    async def get_user(self, username: str) -> UserRecord | None: ...

    async def count_users(self) -> int: ...

    async def list_users(self, query: str | None, page: Page) -> tuple[list[UserRecord], int]: ...

    async def update_user(self, username: str, **changes: Any) -> UserRecord | None:
        """Change email, password_hash, cli_secret_hash, is_admin, disabled, groups,
        last_login_at; None when there is no such user."""
        ...

    async def delete_user(self, username: str) -> bool: ...

    # projects
    async def create_project(
        self, name: str, *, public: bool = False, quota_bytes: int | None = None
    ) -> ProjectRecord:
        """Raises Conflict when the name is taken."""
        ...

    async def get_project(self, name: str) -> ProjectRecord | None: ...

    async def list_projects(
        self, query: str | None, names: Sequence[str] | None, public: bool | None, page: Page
    ) -> tuple[list[ProjectRecord], int]:
        """Projects whose name contains `query`; when `names` is given, only those
        (plus public ones if `public` is True)."""
        ...

    async def update_project(self, name: str, **changes: Any) -> ProjectRecord | None:
        """Change `public` and `quota_bytes`."""
        ...

    async def delete_project(self, name: str) -> bool:
        """Raises Conflict while the project holds repositories."""
        ...

    # members
    async def add_member(
        self,
        project: str,
        kind: MemberKind,
        name: str,
        role: str,
        repositories: Sequence[str] | None,
    ) -> MemberRecord:
        """Raises Conflict when that user or group is already a member, NotFound without
        the project."""
        ...

    async def update_member(
        self, project: str, member_id: int, role: str, repositories: Sequence[str] | None
    ) -> MemberRecord | None: ...

    async def remove_member(self, project: str, member_id: int) -> bool: ...

    async def list_members(self, project: str) -> list[MemberRecord]: ...

    async def memberships(
        self, username: str, groups: Sequence[str], project: str | None = None
    ) -> list[MemberRecord]:
        """Every membership of the user, directly or through a group (in one project)."""
        ...

    # the same lookups for the request path, served from cache while nothing has changed
    async def cached_user(self, username: str) -> UserRecord | None: ...

    async def cached_robot(self, name: str) -> RobotRecord | None: ...

    async def cached_project(self, name: str) -> ProjectRecord | None: ...

    async def cached_memberships(
        self, username: str, groups: Sequence[str], project: str
    ) -> list[MemberRecord]: ...

    # robots
    async def create_robot(
        self,
        name: str,
        *,
        project: str | None,
        description: str,
        secret_hash: str,
        permissions: Sequence[Grant],
        expires_at: datetime | None,
        created_by: str,
    ) -> RobotRecord: ...

    async def get_robot(self, name: str) -> RobotRecord | None: ...

    async def list_robots(self, project: str | None) -> list[RobotRecord]:
        """Robots of one project, or system robots when `project` is None."""
        ...

    async def update_robot(self, name: str, **changes: Any) -> RobotRecord | None:
        """Change description, secret_hash, permissions, expires_at, disabled."""
        ...

    async def delete_robot(self, name: str) -> bool: ...

    # audit
    async def add_audit(self, events: Sequence[AuditEvent]) -> None: ...

    async def query_audit(self, query: AuditQuery, page: Page) -> tuple[list[AuditEvent], int]: ...

    async def purge_audit(self, older_than: datetime) -> int: ...

    async def record_login(self, username: str, at: datetime) -> None:
        """Set last_login_at. Not an identity change: no cached lookup is invalidated."""
        ...

    # login throttling
    async def take_login_attempt(
        self, key: str, now: float, rule: ThrottleRule
    ) -> tuple[bool, float]:
        """Count one attempt under `key` at epoch `now` unless the key is backing off:
        (admitted, epoch time until which the key backs off from now on). Counting and
        checking are one atomic step, whatever runs concurrently."""
        ...

    async def forgive_login_attempt(self, key: str, rule: ThrottleRule, *, reset: bool) -> None:
        """The attempt counted under `key` succeeded: forget the key's failures
        (`reset`) or just take that one attempt back."""
        ...

    async def purge_login_attempts(self, before: float) -> int:
        """Drop keys idle and unblocked since epoch `before`."""
        ...

    # server secrets (token signing key, cookie key), created once, shared by replicas
    async def get_secret(self, name: str) -> str | None: ...

    async def get_or_create_secret(self, name: str, value: str) -> str:
        """The stored value; `value` is stored first if there is none (the first replica
        to get here wins)."""
        ...

    # repositories and artifacts for the management API
    async def project_repository_names(self, project: str) -> list[str]:
        """Every repository name of the project, in order."""
        ...

    async def list_project_repositories(
        self, project: str, query: str | None, page: Page, names: Sequence[str] | None = None
    ) -> tuple[list[RepositorySummary], int]:
        """Summaries of the project's repositories (only those in `names` if given)."""
        ...

    async def repositories_with_blob(self, digest: str, project: str, limit: int) -> list[str]:
        """Up to `limit` repositories linking the blob, those of `project` first."""
        ...

    async def list_artifacts(
        self, repository: str, page: Page
    ) -> tuple[list[ArtifactSummary], int]: ...

    async def delete_repository(self, repository: str) -> bool:
        """Drop the repository with its manifests, tags and blob links (quota follows)."""
        ...
