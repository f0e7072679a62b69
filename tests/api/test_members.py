"""Project members, and what each project role may do through the management API
(the registry's own permission matrix is tested in tests/access)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import Registry, error, ok, unique


def test_member_lifecycle(registry: Registry) -> None:
    project = registry.project()
    user, _ = registry.user()
    with registry.admin() as admin:
        body = {"kind": "user", "name": user, "role": "developer", "repositories": None}
        added = ok(admin.post(f"/projects/{project}/members", json=body), 201)
        assert added["project"] == project and added["role"] == "developer"
        mid = added["id"]
        listed = ok(admin.get(f"/projects/{project}/members"))
        assert {(m["kind"], m["name"], m["role"]) for m in listed} == {
            ("user", "admin", "project_admin"),  # the creator
            ("user", user, "developer"),
        }
        assert ok(admin.get(f"/projects/{project}/members/{mid}"))["name"] == user
        changed = ok(
            admin.patch(
                f"/projects/{project}/members/{mid}",
                json={"role": "guest", "repositories": [f"{project}/api/*"]},
            )
        )
        assert changed["role"] == "guest" and changed["repositories"] == [f"{project}/api/*"]
        changed = ok(admin.patch(f"/projects/{project}/members/{mid}", json={"role": "maintainer"}))
        assert changed["repositories"] == [f"{project}/api/*"]  # left out: unchanged
        changed = ok(admin.patch(f"/projects/{project}/members/{mid}", json={"repositories": None}))
        assert changed["role"] == "maintainer" and changed["repositories"] is None
        assert admin.delete(f"/projects/{project}/members/{mid}").status_code == 204
        error(admin.get(f"/projects/{project}/members/{mid}"), 404, "NOT_FOUND")
        error(admin.delete(f"/projects/{project}/members/{mid}"), 404, "NOT_FOUND")
        error(
            admin.patch(f"/projects/{project}/members/{mid}", json={"role": "guest"}),
            404,
            "NOT_FOUND",
        )


def test_member_rules(registry: Registry) -> None:
    project, other = registry.project(), registry.project()
    user, _ = registry.user()
    with registry.admin() as admin:
        path = f"/projects/{project}/members"
        ghost = {"kind": "user", "name": unique("ghost"), "role": "guest"}
        assert "not found" in error(admin.post(path, json=ghost), 404, "NOT_FOUND")["message"]
        # groups come from LDAP or OIDC: any name will do
        group = ok(
            admin.post(path, json={"kind": "group", "name": "Team A (ops)", "role": "guest"}), 201
        )
        assert group["kind"] == "group" and group["repositories"] is None
        member = ok(admin.post(path, json={"name": user, "role": "guest"}), 201)
        error(admin.post(path, json={"name": user, "role": "developer"}), 409, "CONFLICT")
        # a member id of another project is not found here
        error(admin.get(f"/projects/{other}/members/{member['id']}"), 404, "NOT_FOUND")
        error(admin.delete(f"/projects/{other}/members/{member['id']}"), 404, "NOT_FOUND")
        for bad in (
            {"name": user, "role": "owner"},
            {"name": user, "role": "guest", "kind": "robot"},
            {"name": user, "role": "guest", "repositories": ["UPPER/*"]},
            {"name": user, "role": "guest", "repositories": "team/*"},
            {"name": "", "role": "guest"},
        ):
            error(admin.post(path, json=bad), 422, "INVALID_REQUEST")
        for bad_id in ("0", "abc", str(2**40), "-1"):
            error(admin.get(f"{path}/{bad_id}"), 422, "INVALID_REQUEST")


# What each role may do, from Harbor's documented matrix: expected status per role.
ROLES = ("project_admin", "maintainer", "developer", "guest", "limited_guest", "outsider")
Action = Callable[[httpx.Client, str, Registry], httpx.Response]


def _add_member(c: httpx.Client, p: str, r: Registry) -> httpx.Response:
    return c.post(f"/projects/{p}/members", json={"name": r.user()[0], "role": "guest"})


def _robot(c: httpx.Client, p: str, r: Registry) -> httpx.Response:
    body = {"name": unique("r"), "permissions": [{"project": p, "actions": ["pull"]}]}
    return c.post(f"/projects/{p}/robots", json=body)


CHECKS: list[tuple[str, Action, dict[str, int]]] = [
    ("read project", lambda c, p, r: c.get(f"/projects/{p}"), {}),
    (
        "list members",
        lambda c, p, r: c.get(f"/projects/{p}/members"),
        {"limited_guest": 403},
    ),
    (
        "read logs",
        lambda c, p, r: c.get(f"/projects/{p}/audit-logs"),
        {"limited_guest": 403},
    ),
    (
        "list robots",
        lambda c, p, r: c.get(f"/projects/{p}/robots"),
        {"developer": 403, "guest": 403, "limited_guest": 403},
    ),
    ("list repositories", lambda c, p, r: c.get(f"/projects/{p}/repositories"), {}),
    ("add member", _add_member, {"project_admin": 201}),
    ("create robot", _robot, {"project_admin": 201}),
    (
        "make public",
        lambda c, p, r: c.patch(f"/projects/{p}", json={"public": False}),
        {"project_admin": 200},
    ),
    (
        "set quota",
        lambda c, p, r: c.put(f"/projects/{p}/quota", json={"quota_bytes": 10}),
        {},
    ),
]


@pytest.mark.parametrize("role", ROLES)
def test_what_each_role_may_do(registry: Registry, role: str) -> None:
    project = registry.project("roles")
    user = registry.user()
    if role != "outsider":
        registry.member(project, user[0], role)
    failures = []
    with registry.api(user) as client:
        for what, action, statuses in CHECKS:
            # unless listed: members may read (200), not change (403); outsiders see nothing
            default = 200 if what.startswith(("read", "list")) else 403
            want = statuses.get(role, 404 if role == "outsider" else default)
            r = action(client, project, registry)
            if r.status_code != want:
                failures.append(f"{role} {what}: {r.status_code}, expected {want}: {r.text[:120]}")
        r = client.delete(f"/projects/{project}")
        want = 204 if role == "project_admin" else 404 if role == "outsider" else 403
        if r.status_code != want:
            failures.append(f"{role} delete project: {r.status_code}, expected {want}")
    assert not failures, "\n".join(failures)


def test_a_project_admin_manages_members(registry: Registry) -> None:
    project = registry.project()
    owner, guest = registry.user(), registry.user()
    registry.member(project, owner[0], "project_admin")
    with registry.api(owner) as client:
        added = ok(
            client.post(f"/projects/{project}/members", json={"name": guest[0], "role": "guest"}),
            201,
        )
        r = client.patch(f"/projects/{project}/members/{added['id']}", json={"role": "developer"})
        assert ok(r)["role"] == "developer"
        assert client.delete(f"/projects/{project}/members/{added['id']}").status_code == 204
    with registry.api(guest) as client:
        error(client.get(f"/projects/{project}"), 404, "NOT_FOUND")  # no longer a member
