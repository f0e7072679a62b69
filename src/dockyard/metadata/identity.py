"""Records of identity and access: users, projects, members, robots, the audit log,
login throttling. The stores that keep them are in identity_stores.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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
    updated_at: datetime | None = None
    """the last push: a manifest stored or a tag moved (None: nothing pushed yet)"""


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
    pull_count: int = 0
    last_pulled_at: datetime | None = None
    subject_digest: str | None = None
    annotations: str | None = None
    """the manifest's annotations as a JSON object, as stored at push"""


TagSort = Literal["name", "-name", "updated", "-updated"]
"""a tag listing's order: by name, or by when the tag last moved (`-`: descending)"""
RepositorySort = Literal["name", "-name", "pushed", "-pushed", "updated"]
"""a repository listing's order: by name, or by the last push (never pushed: last
either way); `updated`, the most recent push first, is `-pushed`"""
ArtifactSort = Literal["pushed", "-pushed", "size", "-size", "pulls", "-pulls", "pulled", "-pulled"]
"""an artifact listing's order: by when it was pushed, its size, its pull count, when it
was last pulled (never pulled: last either way); ties by digest"""
ProjectSort = Literal["name", "-name", "created", "-created", "size", "-size"]
"""a project listing's order: by name, creation, or the bytes it uses; ties by name"""
UserSort = Literal["name", "-name", "created", "-created", "login", "-login"]
"""a user listing's order: by name, creation, or the last sign-in (never: last)"""
RobotSort = Literal["name", "-name", "created", "-created", "expires", "-expires"]
"""a robot listing's order: by name, creation, or expiry (never expiring: last)"""
AuditSort = Literal["at", "-at"]
"""the audit trail's order: oldest or newest first; ties by id"""


@dataclass(frozen=True, slots=True)
class TagSummary:
    name: str
    digest: str
    media_type: str
    size: int
    """as ArtifactSummary.size: manifest bytes plus the blobs it references directly"""
    updated_at: datetime
    """when the tag last moved"""
    pushed_at: datetime
    """when the tagged manifest was stored"""
    pull_count: int = 0
    last_pulled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReferrerSummary:
    """A manifest whose `subject` is `subject`, in the same repository."""

    subject: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    """as ArtifactSummary.size"""
    created_at: datetime
    annotations: str | None = None


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
