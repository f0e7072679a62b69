"""Who may do what: roles, the permission matrix, principals and glob grants.

Project roles follow Harbor's documented matrix (docs/access-control.md shows it).
Repository globs match the full repository name (`team-a/api/*`); `*` matches
across slashes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from dockyard.metadata.identity import Grant, MemberRecord, ProjectRecord

PULL, PUSH, DELETE = "pull", "push", "delete"
REGISTRY_ACTIONS = frozenset({PULL, PUSH, DELETE})

ROLES = ("project_admin", "maintainer", "developer", "guest", "limited_guest")

# project-level actions beyond the registry's pull/push/delete
READ_PROJECT = "read_project"
UPDATE_PROJECT = "update_project"
DELETE_PROJECT = "delete_project"
READ_MEMBERS = "read_members"
MANAGE_MEMBERS = "manage_members"
READ_ROBOTS = "read_robots"
MANAGE_ROBOTS = "manage_robots"
READ_LOGS = "read_logs"
SCAN = "scan"
CREATE_TAG = "create_tag"
DELETE_TAG = "delete_tag"

_EVERY_ROLE = set(ROLES)
_GUEST_UP = {"project_admin", "maintainer", "developer", "guest"}
_DEVELOPER_UP = {"project_admin", "maintainer", "developer"}
_MAINTAINER_UP = {"project_admin", "maintainer"}
_ADMIN = {"project_admin"}

MATRIX: dict[str, set[str]] = {
    READ_PROJECT: _EVERY_ROLE,
    PULL: _EVERY_ROLE,
    READ_MEMBERS: _GUEST_UP,
    READ_LOGS: _GUEST_UP,
    PUSH: _DEVELOPER_UP,
    CREATE_TAG: _DEVELOPER_UP,
    DELETE: _MAINTAINER_UP,
    DELETE_TAG: _MAINTAINER_UP,
    SCAN: _MAINTAINER_UP,
    READ_ROBOTS: _MAINTAINER_UP,
    UPDATE_PROJECT: _ADMIN,
    DELETE_PROJECT: _ADMIN,
    MANAGE_MEMBERS: _ADMIN,
    MANAGE_ROBOTS: _ADMIN,
}
ALL_ACTIONS = frozenset(MATRIX)
# what robots may be granted: the registry actions plus tag management and scanning
ROBOT_ACTIONS = frozenset({PULL, PUSH, DELETE, CREATE_TAG, DELETE_TAG, SCAN, READ_LOGS})


def role_actions(role: str) -> frozenset[str]:
    return frozenset(action for action, roles in MATRIX.items() if role in roles)


def project_of(repository: str) -> str:
    return repository.split("/", 1)[0]


def repo_matches(globs: Iterable[str] | None, repository: str) -> bool:
    """True when `repository` falls under any glob (no globs at all: every repository)."""
    if globs is None:
        return True
    patterns = list(globs)
    return not patterns or any(fnmatchcase(repository, g) for g in patterns)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["anonymous", "user", "robot"]
    name: str
    is_admin: bool = False
    groups: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    """a robot's permissions"""
    robot_project: str | None = None
    """the project a project-level robot belongs to"""
    token_access: dict[tuple[str, str], frozenset[str]] | None = field(default=None, hash=False)
    """what a bearer token carries, by (type, name); None when not authenticated by token"""

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def spans_all_projects(self) -> bool:
        """An administrator, or a system robot with a grant on every project."""
        return self.is_admin or any(g.project == "*" for g in self.grants)


ANONYMOUS = Principal("anonymous", "")


def robot_actions(grants: Iterable[Grant], project: str, repository: str | None) -> frozenset[str]:
    out: set[str] = set()
    for g in grants:
        if g.project not in ("*", project):
            continue
        if repository is None or repo_matches(g.repositories, repository):
            out |= g.actions
    return frozenset(out)


def member_actions(memberships: Iterable[MemberRecord], repository: str | None) -> frozenset[str]:
    """Union of the roles' actions over memberships whose globs cover `repository`
    (project-level actions when `repository` is None: only memberships without globs
    grant those)."""
    out: set[str] = set()
    for m in memberships:
        if repository is None:
            if m.repositories is None or not m.repositories:
                out |= role_actions(m.role)
            else:
                out |= {READ_PROJECT, PULL} & role_actions(m.role)
        elif repo_matches(m.repositories, repository):
            out |= role_actions(m.role)
    return frozenset(out)


def principal_actions(
    principal: Principal,
    project: ProjectRecord | None,
    memberships: Iterable[MemberRecord],
    repository: str | None,
    *,
    anonymous_pull: bool,
    auto_create: bool,
) -> frozenset[str]:
    """Every action `principal` may take on `repository` (or on the project itself when
    `repository` is None) given the project record (None: it does not exist)."""
    if project is None:
        # Only someone who spans every project may bring one into being by pushing.
        if principal.spans_all_projects and auto_create and repository is not None:
            if principal.is_admin:
                return REGISTRY_ACTIONS
            return robot_actions(principal.grants, "*", repository) & REGISTRY_ACTIONS
        return frozenset()
    if principal.is_admin:
        return ALL_ACTIONS
    if principal.kind == "robot":
        got = robot_actions(principal.grants, project.name, repository)
        if principal.robot_project not in (None, project.name):
            got = frozenset()
        return got | ({PULL, READ_PROJECT} if project.public else frozenset())
    got = member_actions(memberships, repository) if principal.kind == "user" else frozenset()
    if project.public and (principal.kind == "user" or anonymous_pull):
        got |= {PULL, READ_PROJECT}
    return got
