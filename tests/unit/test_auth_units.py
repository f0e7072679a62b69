"""Pure pieces of access control: the role matrix, grants and globs, scope parsing,
token signing and verification, password and secret hashing."""

from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from dockyard.auth import permissions as p
from dockyard.auth.passwords import (
    fingerprint,
    hash_password,
    hash_secret,
    new_secret,
    verify_password,
    verify_secret,
)
from dockyard.auth.service import expand, parse_scope
from dockyard.auth.tokens import TokenInvalid, TokenService, generate_key_pem, key_id, load_key
from dockyard.config.auth import TokenSettings
from dockyard.metadata.identity import Grant, MemberRecord, ProjectRecord

NOW = dt.datetime.now(dt.UTC)


def project(name: str = "team-a", public: bool = False) -> ProjectRecord:
    return ProjectRecord(1, name, public, None, 0, NOW, NOW)


def member(role: str, repos: tuple[str, ...] | None = None, name: str = "u") -> MemberRecord:
    return MemberRecord(1, "team-a", "user", name, role, repos, NOW)


def actions(
    principal: p.Principal,
    proj: ProjectRecord | None,
    members: list[MemberRecord],
    repo: str | None = "team-a/app",
    **kw: bool,
) -> frozenset[str]:
    opts = {"anonymous_pull": True, "auto_create": True, **kw}
    return p.principal_actions(principal, proj, members, repo, **opts)


USER = p.Principal("user", "u")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("project_admin", {"pull", "push", "delete"}),
        ("maintainer", {"pull", "push", "delete"}),
        ("developer", {"pull", "push"}),
        ("guest", {"pull"}),
        ("limited_guest", {"pull"}),
    ],
)
def test_role_registry_actions(role: str, expected: set[str]) -> None:
    assert actions(USER, project(), [member(role)]) & p.REGISTRY_ACTIONS == expected


def test_management_actions_follow_harbor() -> None:
    def can(role: str, action: str) -> bool:
        return action in p.role_actions(role)

    assert not can("limited_guest", p.READ_MEMBERS) and can("guest", p.READ_MEMBERS)
    assert not can("limited_guest", p.READ_LOGS) and can("guest", p.READ_LOGS)
    assert can("project_admin", p.MANAGE_MEMBERS) and not can("maintainer", p.MANAGE_MEMBERS)
    assert can("maintainer", p.READ_ROBOTS) and not can("developer", p.READ_ROBOTS)
    assert can("maintainer", p.SCAN) and not can("developer", p.SCAN)


def test_repository_globs_on_memberships() -> None:
    scoped = [member("developer", ("team-a/api/*",))]
    assert actions(USER, project(), scoped, "team-a/api/server") == p.role_actions("developer")
    assert actions(USER, project(), scoped, "team-a/api/x/y") == p.role_actions("developer")
    assert actions(USER, project(), scoped, "team-a/web") == frozenset()
    # project-level: globbed memberships see the project, nothing more
    assert actions(USER, project(), scoped, None) == {p.READ_PROJECT, p.PULL}


def test_public_private_and_anonymous() -> None:
    assert actions(p.ANONYMOUS, project(public=True), []) == {p.PULL, p.READ_PROJECT}
    assert actions(p.ANONYMOUS, project(public=True), [], anonymous_pull=False) == frozenset()
    assert actions(p.ANONYMOUS, project(), []) == frozenset()
    assert actions(USER, project(public=True), []) == {p.PULL, p.READ_PROJECT}
    assert actions(USER, project(), []) == frozenset()


def test_admin_and_missing_projects() -> None:
    admin = p.Principal("user", "root", is_admin=True)
    assert actions(admin, project(), []) == p.ALL_ACTIONS
    assert actions(admin, None, []) == p.REGISTRY_ACTIONS
    assert actions(admin, None, [], auto_create=False) == frozenset()
    assert actions(USER, None, [member("project_admin")]) == frozenset()


def test_robots() -> None:
    proj_robot = p.Principal(
        "robot",
        "robot$team-a+ci",
        grants=(Grant("team-a", frozenset({"pull", "push"}), ("team-a/api/*",)),),
        robot_project="team-a",
    )
    assert actions(proj_robot, project(), [], "team-a/api/x") == {"pull", "push"}
    assert actions(proj_robot, project(), [], "team-a/web") == frozenset()
    assert actions(proj_robot, project("team-b"), [], "team-b/api/x") == frozenset()
    assert actions(proj_robot, None, [], "new/app") == frozenset()
    system = p.Principal("robot", "robot$all", grants=(Grant("*", frozenset({"pull", "push"})),))
    assert actions(system, project("team-z"), [], "team-z/app") == {"pull", "push"}
    assert actions(system, None, [], "new/app") == {"pull", "push"}  # may create projects
    # a project robot whose grant claims another project gets nothing there
    sneaky = p.Principal(
        "robot",
        "robot$team-a+x",
        grants=(Grant("*", frozenset({"push"})),),
        robot_project="team-a",
    )
    assert actions(sneaky, project("team-b"), [], "team-b/app") == frozenset()


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("repository:team-a/app:pull,push", ("repository", "team-a/app", {"pull", "push"})),
        ("repository:team-a/app:*", ("repository", "team-a/app", {"*"})),
        ("repository(plugin):a/b:pull", ("repository", "a/b", {"pull"})),
        ("repository:a/b:pull,frobnicate", ("repository", "a/b", {"pull"})),
        ("registry:catalog:*", ("registry", "catalog", {"*"})),
        ("repository:Bad/Name:pull", None),
        ("repository:../x:pull", None),
        ("repository:a:", ("repository", "a", set())),
        ("nonsense", None),
        ("blob:x:pull", None),
    ],
)
def test_parse_scope(scope: str, expected: object) -> None:
    assert parse_scope(scope) == expected


def test_expand_star() -> None:
    assert expand(frozenset({"*"})) == p.REGISTRY_ACTIONS
    assert expand(frozenset({"pull"})) == {"pull"}


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_tokens_round_trip_and_refuse_forgeries(alg: str) -> None:
    settings = TokenSettings(algorithm=alg, expiry_seconds=60)
    svc = TokenService(settings, generate_key_pem(alg))
    access = [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
    issued = svc.issue("alice", access, "user")
    claims = svc.verify(issued.token)
    assert claims["sub"] == "alice" and claims["access"] == access
    assert jwt.get_unverified_header(issued.token)["kid"] == svc.kid
    other = TokenService(settings, generate_key_pem(alg))
    with pytest.raises(TokenInvalid):
        svc.verify(other.issue("alice", access, "user").token)
    with pytest.raises(TokenInvalid):  # the refresh audience is not an access token
        svc.verify(svc.issue_refresh("alice", "user", "fp"))
    with pytest.raises(TokenInvalid):
        svc.verify_refresh(issued.token)
    assert svc.verify_refresh(svc.issue_refresh("alice", "user", "fp"))["dky_fp"] == "fp"
    forged = jwt.encode(
        {**claims, "exp": int(time.time()) + 999},
        "a-long-enough-hmac-key-of-32-bytes!",
        algorithm="HS256",
        headers={"kid": svc.kid},
    )
    with pytest.raises(TokenInvalid):
        svc.verify(forged)
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 60},
        load_key(generate_key_pem(alg), alg),
        algorithm=alg,
        headers={"kid": svc.kid},
    )
    with pytest.raises(TokenInvalid):
        svc.verify(expired)


def test_key_id_is_libtrust_shaped() -> None:
    kid = key_id(load_key(generate_key_pem("ES256"), "ES256"))
    parts = kid.split(":")
    assert len(parts) == 12 and all(len(x) == 4 for x in parts)


def test_wrong_key_type_is_refused() -> None:
    with pytest.raises(ValueError):
        load_key(generate_key_pem("RS256"), "ES256")


def test_passwords_and_secrets() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse") and not verify_password(h, "wrong")
    assert not verify_password("garbage", "x")
    s = new_secret()
    assert (
        len(s) >= 43
        and verify_secret(hash_secret(s), s)
        and not verify_secret(hash_secret(s), s + "x")
    )
    assert fingerprint("a") != fingerprint("b") and len(fingerprint(None)) == 16
