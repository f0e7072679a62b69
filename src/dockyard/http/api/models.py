"""Request and response bodies of the management API (pydantic v2, with examples).

Every string that reaches the database is length-bounded and free of control
characters (PostgreSQL refuses NUL; column widths are enforced there), so bad input
is a 422 from validation, never a database error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from dockyard.accounts.repositories import MAX_REFERRER_DEPTH, MAX_REFERRERS
from dockyard.auth.permissions import ROBOT_ACTIONS, ROLES
from dockyard.oci.names import COMPONENT_PATTERN, NAME_RE, TAG_RE

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # free text: tabs and newlines allowed
NAME = COMPONENT_PATTERN  # a project is a repository name's first component
MAX_BYTES = 2**53 - 1
"""8 PiB: every integer up to it is exact as a JSON (float) number, in JavaScript too"""


def _integral(value: object) -> object:
    """JSON has numbers, not integers: 30.0 is 30 (strict mode still refuses true and "30")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _str(pattern: str, max_length: int = 255, min_length: int = 1) -> Any:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)


ProjectName = Annotated[str, _str(NAME)]
RobotName = Annotated[str, _str(NAME, 64)]
ROBOT_PATH = r"^[a-z0-9$+._-]+$"
USERNAME = r"^[a-zA-Z0-9][a-zA-Z0-9._@-]*$"
LocalUsername = Annotated[str, _str(USERNAME)]
Password = Annotated[str, _str(NO_CONTROL, 1024, 8)]
# patterns avoid \s, \w and \d: pydantic's (Rust) regex reads them Unicode-wide, ECMA does not
EMAIL = r"^[^@ \x00-\x1f\x7f]+@[^@ \x00-\x1f\x7f]+$"
Email = Annotated[str, _str(EMAIL)]
PrincipalName = Annotated[str, _str(NO_CONTROL)]
GLOB = r"^[a-z0-9._\-/*?\[\]!]+$"
Glob = Annotated[str, _str(GLOB)]
GRANT_PROJECT = rf"^(?:\*|{COMPONENT_PATTERN[1:-1]})$"
GrantProject = Annotated[str, _str(GRANT_PROJECT)]
Description = Annotated[str, _str(TEXT, 1024, 0)]
Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES), BeforeValidator(_integral)]
Days = Annotated[int, Field(ge=1, le=36500), BeforeValidator(_integral)]
Globs = Annotated[list[Glob], Field(max_length=100)]
Grants = Annotated[list["Grant"], Field(min_length=1, max_length=100)]

# what a pattern means, for validation errors a person can act on (never the regex)
PATTERN_WORDS = {
    NAME: "lowercase letters and digits, optionally separated by '.', '_', '__' or "
    "dashes, starting and ending with a letter or digit (like team-a)",
    NO_CONTROL: "text without control characters",
    TEXT: "text without control characters other than tabs and newlines",
    USERNAME: "letters, digits, '.', '_', '@' and '-', starting with a letter or digit",
    EMAIL: "an email address like name@example.org",
    GLOB: "a repository name pattern: lowercase letters, digits, '.', '_', '-', '/' "
    "and the wildcards * ? [ ]",
    GRANT_PROJECT: "a project name, or * for every project",
    f"^{NAME_RE.pattern}$": "a repository path: name components of lowercase letters and "
    "digits (separated by '.', '_', '__' or dashes) joined by '/'",
    f"^{TAG_RE.pattern}$": "a tag: up to 128 letters, digits, '_', '.' and '-', not "
    "starting with '.' or '-'",
    ROBOT_PATH: "a robot's full name, like robot$team-a+ci",
}

Role = Literal["project_admin", "maintainer", "developer", "guest", "limited_guest"]
RobotAction = Literal["pull", "push", "delete", "create_tag", "delete_tag", "scan", "read_logs"]
assert set(get_args(Role)) == set(ROLES), "Role must list permissions.ROLES"
assert set(get_args(RobotAction)) == set(ROBOT_ACTIONS), "RobotAction must list ROBOT_ACTIONS"


class _Input(BaseModel):
    """Request bodies: unknown fields refused, no coercion (`false` is not 0)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [example]})


class ErrorItem(BaseModel):
    code: str = Field(examples=["NOT_FOUND"])
    message: str = Field(examples=["project 'team-a' not found"])
    detail: Any = None


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


# -- users --------------------------------------------------------------------


class UserCreate(_Input):
    model_config = _example(username="alice", password="correct-horse", email=None)
    username: LocalUsername
    password: Password
    email: Email | None = None
    is_admin: bool = False


class UserUpdate(_Input):
    """Fields left out stay as they are. Changing one's own password needs the current
    one; `is_admin` and `disabled` are for system administrators."""

    model_config = _example(password="new-password-1", current_password="correct-horse")
    email: Email | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=1024)] | None = None
    is_admin: bool | None = None
    disabled: bool | None = None


class UserOut(BaseModel):
    username: str = Field(examples=["alice"])
    email: str | None
    source: Literal["local", "ldap", "oidc"]
    is_admin: bool
    disabled: bool
    groups: list[str]
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class Membership(BaseModel):
    project: str = Field(examples=["team-a"])
    role: str = Field(examples=["developer"])
    repositories: list[str] | None
    via: str = Field(description='"user", or "group:<name>"', examples=["user"])


class Grant(_Input):
    project: GrantProject = Field(
        description='a project name; "*" (every project) for system robots only'
    )
    repositories: list[Glob] = Field(
        default_factory=list,
        max_length=100,
        description="globs of full repository names (`team-a/api/*`); empty: all",
    )
    actions: list[RobotAction] = Field(min_length=1, max_length=16)


class GrantOut(BaseModel):
    project: str = Field(examples=["team-a"])
    repositories: list[str] = Field(examples=[["team-a/api/*"]])
    actions: list[str] = Field(examples=[["pull", "push"]])


class CurrentUser(BaseModel):
    username: str = Field(examples=["alice"])
    kind: Literal["user", "robot"]
    is_admin: bool
    email: str | None = None
    source: str | None = None
    groups: list[str] = []
    memberships: list[Membership] = []
    permissions: list[GrantOut] = Field(default=[], description="a robot's grants")


class CliSecret(BaseModel):
    username: str
    secret: str = Field(description="shown once; use it as the password of `docker login`")


class SessionsEnded(BaseModel):
    ended: int = Field(description="how many web UI sessions were live and have ended")


# -- projects -----------------------------------------------------------------


class ProjectCreate(_Input):
    model_config = _example(name="team-a", public=False, quota_bytes=None)
    name: ProjectName
    public: bool = False
    quota_bytes: Bytes | None = Field(
        None, description="only a system administrator may set it; null: unlimited"
    )


class ProjectUpdate(_Input):
    model_config = _example(public=True)
    public: bool | None = None
    quota_bytes: Bytes | None = Field(
        None, description="system administrators only; null removes the quota"
    )


class ProjectOut(BaseModel):
    name: str = Field(examples=["team-a"])
    public: bool
    quota_bytes: int | None
    used_bytes: int
    created_at: datetime
    updated_at: datetime


class Quota(BaseModel):
    quota_bytes: int | None
    used_bytes: int


class QuotaUpdate(_Input):
    model_config = _example(quota_bytes=10737418240)
    quota_bytes: Bytes | None = Field(description="null: unlimited")


# -- members ------------------------------------------------------------------


class MemberCreate(_Input):
    model_config = _example(kind="user", name="alice", role="developer", repositories=None)
    kind: Literal["user", "group"] = "user"
    name: PrincipalName
    role: Role
    repositories: Globs | None = Field(
        None, description="globs of full repository names; null: the whole project"
    )


class MemberUpdate(_Input):
    model_config = _example(role="guest")
    role: Role | None = None
    repositories: Globs | None = None


class MemberOut(BaseModel):
    id: int
    project: str
    kind: Literal["user", "group"]
    name: str
    role: str
    repositories: list[str] | None
    created_at: datetime


# -- robots -------------------------------------------------------------------


class RobotCreate(_Input):
    model_config = _example(
        name="ci",
        description="pushes from CI",
        expires_in_days=30,
        permissions=[
            {"project": "team-a", "repositories": ["team-a/api/*"], "actions": ["pull", "push"]}
        ],
    )
    name: RobotName
    description: Description = ""
    expires_in_days: Days | None = Field(None, description="null: never expires")
    permissions: Grants


class RobotUpdate(_Input):
    model_config = _example(disabled=True)
    description: Description | None = None
    permissions: Grants | None = None
    disabled: bool | None = None
    expires_in_days: Days | None = Field(None, description="from now; null: never expires")


class RobotOut(BaseModel):
    name: str = Field(examples=["robot$team-a+ci"], description="what it logs in as")
    project: str | None = Field(description="null for a system robot")
    description: str
    permissions: list[GrantOut]
    expires_at: datetime | None
    expired: bool
    disabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class RobotSecret(RobotOut):
    secret: str = Field(description="shown once: store it now")


# -- repositories and artifacts -----------------------------------------------


class RepositoryOut(BaseModel):
    name: str = Field(examples=["team-a/api/server"])
    project: str
    artifact_count: int
    tag_count: int
    created_at: datetime
    updated_at: datetime | None = Field(
        description="the last push (a manifest stored or a tag moved); null: none yet"
    )


class Platform(BaseModel):
    os: str | None = Field(examples=["linux"])
    architecture: str | None = Field(examples=["arm64"])
    variant: str | None = None


class ArtifactOut(BaseModel):
    digest: str
    media_type: str
    artifact_type: str | None
    size: int = Field(description="manifest bytes plus the blobs it references directly")
    tags: list[str]
    created_at: datetime
    platforms: list[Platform]
    pull_count: int = Field(
        description="manifest GETs of it from this repository (flushed every few seconds)"
    )
    last_pulled_at: datetime | None


class TagOut(BaseModel):
    name: str = Field(examples=["v1.2.3"])
    digest: str = Field(description="the tagged manifest")
    media_type: str
    size: int = Field(description="manifest bytes plus the blobs it references directly")
    updated_at: datetime = Field(description="when the tag last moved (a push or a retag)")
    pushed_at: datetime = Field(description="when the tagged manifest was stored")
    pull_count: int = Field(description="pulls of the tagged manifest from this repository")
    last_pulled_at: datetime | None


class DescriptorOut(BaseModel):
    """A blob the manifest references (its config, a layer)."""

    media_type: str = Field(examples=["application/vnd.oci.image.layer.v1.tar+gzip"])
    digest: str
    size: int
    annotations: dict[str, str] = Field(description="the descriptor's own (a file's title)")


class PlatformOut(Platform):
    """A platform and the manifest for it: an index's child, or the image itself."""

    digest: str
    media_type: str
    size: int = Field(description="bytes of that manifest")


class ReferrerOut(BaseModel):
    """A manifest whose subject is the artifact above it (a signature, an SBOM)."""

    digest: str
    artifact_type: str | None = Field(examples=["application/vnd.dev.cosign.artifact.sig.v1+json"])
    media_type: str
    size: int = Field(description="manifest bytes plus the blobs it references directly")
    created_at: datetime
    annotations: dict[str, str]
    referrers: list[ReferrerOut] = Field(description="what refers to this one, in turn")


class ArtifactDetailOut(BaseModel):
    digest: str
    media_type: str
    artifact_type: str | None
    size: int = Field(description="manifest bytes plus the blobs it references directly")
    tags: list[str]
    created_at: datetime
    pull_count: int = Field(
        description="manifest GETs of it from this repository (flushed every few seconds)"
    )
    last_pulled_at: datetime | None
    annotations: dict[str, str]
    subject: str | None = Field(description="the digest of the artifact this one refers to")
    platforms: list[PlatformOut] = Field(
        description="an index: each child (platform fields null when it names none); "
        "an image: its own, from its config"
    )
    config: DescriptorOut | None
    layers: list[DescriptorOut]
    referrers: list[ReferrerOut] = Field(
        description=f"oldest first; at most {MAX_REFERRER_DEPTH} levels deep and "
        f"{MAX_REFERRERS} in all"
    )
    referrers_truncated: bool = Field(description="more referrers exist than are shown")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    address: str
    action: str = Field(examples=["project.create"])
    resource: str
    project: str | None
    outcome: str
    detail: dict[str, Any] | None
