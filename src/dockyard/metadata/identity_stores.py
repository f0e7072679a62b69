"""The stores of identity and access, one protocol per role (as StorageDriver is one
for bytes): users, projects with their members, robots, the audit trail with login
throttling, server secrets, and the management API's view of repositories. Each has a
conformance suite run on SQLite and PostgreSQL (tests/unit/test_*_store.py).

`Identity` bundles one of each for wiring; code takes the one store it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dockyard.metadata.identity import (
    ArtifactSort,
    ArtifactSummary,
    AuditEvent,
    AuditQuery,
    AuditSort,
    Grant,
    MemberKind,
    MemberRecord,
    Page,
    ProjectRecord,
    ProjectSort,
    ReferrerSummary,
    RepositorySort,
    RepositorySummary,
    RobotRecord,
    RobotSort,
    TagSort,
    TagSummary,
    ThrottleRule,
    UserRecord,
    UserSort,
    UserSource,
)


class UserStore(Protocol):
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

    async def list_users(
        self, query: str | None, page: Page, sort: UserSort = "name"
    ) -> tuple[list[UserRecord], int]:
        """Users whose name contains `query`, ordered by `sort` (ties by name)."""
        ...

    async def update_user(self, username: str, **changes: Any) -> UserRecord | None:
        """Change email, password_hash, cli_secret_hash, is_admin, disabled, groups,
        last_login_at; None when there is no such user."""
        ...

    async def delete_user(self, username: str) -> bool: ...

    async def record_login(self, username: str, at: datetime) -> None:
        """Set last_login_at. Not an identity change: no cached lookup is invalidated."""
        ...

    async def cached_user(self, username: str) -> UserRecord | None: ...

    async def create_session(self, username: str, id_hash: str, expires_at: datetime) -> bool:
        """Record a web UI session of the user; False if there is no such user."""
        ...

    async def session_user(self, id_hash: str) -> tuple[str, datetime] | None:
        """(the user's name, the expiry) of a live session, or None."""
        ...

    async def cached_session_user(self, id_hash: str) -> tuple[str, datetime] | None: ...

    async def end_session(self, id_hash: str) -> bool: ...

    async def end_sessions(self, username: str) -> int:
        """End every session of the user; how many there were."""
        ...


class ProjectStore(Protocol):
    """Projects and their members (users or groups, with a role)."""

    async def create_project(
        self, name: str, *, public: bool = False, quota_bytes: int | None = None
    ) -> ProjectRecord:
        """Raises Conflict when the name is taken."""
        ...

    async def get_project(self, name: str) -> ProjectRecord | None: ...

    async def list_projects(
        self,
        query: str | None,
        names: Sequence[str] | None,
        public: bool | None,
        page: Page,
        sort: ProjectSort = "name",
    ) -> tuple[list[ProjectRecord], int]:
        """Projects whose name contains `query`; when `names` is given, only those
        (plus public ones if `public` is True); ordered by `sort`, ties by name."""
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

    async def cached_project(self, name: str) -> ProjectRecord | None: ...

    async def cached_memberships(
        self, username: str, groups: Sequence[str], project: str
    ) -> list[MemberRecord]: ...


class RobotStore(Protocol):
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

    async def list_robots(
        self,
        project: str | None,
        page: Page,
        *,
        query: str | None = None,
        prefix: str = "",
        sort: RobotSort = "name",
    ) -> tuple[list[RobotRecord], int]:
        """A page of the robots of one project, or of system robots when `project` is
        None, and how many there are: those whose name, after `prefix`, contains
        `query`; ordered by `sort` (ties by name)."""
        ...

    async def update_robot(self, name: str, **changes: Any) -> RobotRecord | None:
        """Change description, secret_hash, permissions, expires_at, disabled."""
        ...

    async def delete_robot(self, name: str) -> bool: ...

    async def cached_robot(self, name: str) -> RobotRecord | None: ...


class AuditStore(Protocol):
    """The audit trail, and the counters that throttle failed logins."""

    async def add_audit(self, events: Sequence[AuditEvent]) -> None: ...

    async def query_audit(
        self, query: AuditQuery, page: Page, sort: AuditSort = "-at"
    ) -> tuple[list[AuditEvent], int]:
        """A page of the entries matching `query`, newest first unless `sort` is `at`."""
        ...

    async def purge_audit(self, older_than: datetime) -> int: ...

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


class SecretStore(Protocol):
    """Server secrets (token signing key, cookie key), created once, shared by replicas."""

    async def get_secret(self, name: str) -> str | None: ...

    async def get_or_create_secret(self, name: str, value: str) -> str:
        """The stored value; `value` is stored first if there is none (the first replica
        to get here wins)."""
        ...


class CatalogStore(Protocol):
    """Repositories and artifacts as the management API lists and deletes them."""

    async def project_repository_names(self, project: str) -> list[str]:
        """Every repository name of the project, in order."""
        ...

    async def list_project_repositories(
        self,
        project: str,
        query: str | None,
        page: Page,
        names: Sequence[str] | None = None,
        sort: RepositorySort = "name",
    ) -> tuple[list[RepositorySummary], int]:
        """Summaries of the project's repositories (only those in `names` if given)."""
        ...

    async def repositories_with_blob(self, digest: str, project: str, limit: int) -> list[str]:
        """Up to `limit` repositories linking the blob, those of `project` first."""
        ...

    async def list_artifacts(
        self,
        repository: str,
        page: Page,
        query: str | None = None,
        sort: ArtifactSort = "-pushed",
    ) -> tuple[list[ArtifactSummary], int]:
        """A page of the repository's artifacts, each with its tags: those with a tag
        containing `query` or a digest starting with it; ordered by `sort`, ties by
        digest; paged and counted in the database."""
        ...

    async def list_tags(
        self, repository: str, query: str | None, sort: TagSort, page: Page
    ) -> tuple[list[TagSummary], int]:
        """A page of the repository's tags whose name contains `query` (ASCII case
        ignored), each with its manifest: paged and counted in the database."""
        ...

    async def get_artifact(self, repository: str, reference: str) -> ArtifactSummary | None:
        """The artifact a digest or a tag names, with every tag of it; None if none."""
        ...

    async def referrers_of(
        self, repository: str, subjects: Sequence[str], limit: int
    ) -> list[ReferrerSummary]:
        """Up to `limit` manifests of the repository whose subject is one of `subjects`,
        oldest first (what the /v2 referrers API lists, with sizes and times)."""
        ...

    async def delete_repository(self, repository: str, actor: str | None = None) -> bool:
        """Drop the repository with its manifests, tags and blob links (quota follows)."""
        ...


@dataclass(frozen=True, slots=True)
class Identity:
    users: UserStore
    projects: ProjectStore
    robots: RobotStore
    audit: AuditStore
    secrets: SecretStore
    catalog: CatalogStore
