"""Robot accounts through the management API, and what their secrets do on /v2/:
shown once, working at once, dead after rotation, revocation, expiry or deletion."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.api.conftest import Registry, error, ok, unique
from tests.spec.helpers import push_image


def v2(registry: Registry, name: str, secret: str) -> int:
    return httpx.get(f"{registry.url}/v2/", auth=(name, secret)).status_code


def test_system_robot_lifecycle(registry: Registry) -> None:
    short = unique("sys")
    with registry.admin() as admin:
        body = {
            "name": short,
            "description": "nightly sync",
            "permissions": [{"project": "*", "actions": ["pull"]}],
        }
        made = ok(admin.post("/robots", json=body), 201)
        name, secret = made["name"], made["secret"]
        assert name == f"robot${short}" and made["project"] is None
        assert (
            made["expires_at"] is None
            and made["expired"] is False
            and made["created_by"] == "admin"
        )
        assert made["permissions"] == [{"project": "*", "repositories": [], "actions": ["pull"]}]
        assert v2(registry, name, secret) == 200

        for path in (f"/robots/{name}", f"/robots/{short}"):  # full or short name
            got = ok(admin.get(path))
            assert got["name"] == name and "secret" not in got
        listed = ok(admin.get("/robots"))
        assert name in [r["name"] for r in listed] and all("secret" not in r for r in listed)
        error(admin.post("/robots", json=body), 409, "CONFLICT")

        changed = ok(
            admin.patch(
                f"/robots/{short}",
                json={
                    "description": "",
                    "permissions": [{"project": "*", "actions": ["pull", "push"]}],
                },
            )
        )
        assert changed["permissions"][0]["actions"] == ["pull", "push"] and "secret" not in changed

        fresh = ok(admin.post(f"/robots/{short}/secret"))["secret"]
        assert fresh != secret
        assert v2(registry, name, secret) == 401  # rotation kills the old secret at once
        assert v2(registry, name, fresh) == 200

        assert ok(admin.patch(f"/robots/{short}", json={"disabled": True}))["disabled"] is True
        assert v2(registry, name, fresh) == 401
        r = httpx.get(
            f"{registry.url}/auth/token", params={"service": "dockyard"}, auth=(name, fresh)
        )
        assert r.status_code == 401
        ok(admin.patch(f"/robots/{short}", json={"disabled": False}))
        assert v2(registry, name, fresh) == 200

        assert admin.delete(f"/robots/{short}").status_code == 204
        assert v2(registry, name, fresh) == 401
        error(admin.get(f"/robots/{short}"), 404, "NOT_FOUND")
        error(admin.post(f"/robots/{short}/secret"), 404, "NOT_FOUND")


def test_expiry(registry: Registry) -> None:
    project = registry.project()
    robot = registry.robot(project, [{"project": project, "actions": ["pull"]}], expires_in_days=30)
    expires = dt.datetime.fromisoformat(robot["expires_at"])
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=30)) < dt.timedelta(minutes=5)
    assert v2(registry, robot["name"], robot["secret"]) == 200
    registry.expire_robot(robot["name"])
    with registry.admin() as admin:
        path = f"/projects/{project}/robots/{robot['name']}"
        # a change through the API, so that no cache still holds the old expiry
        assert ok(admin.patch(path, json={"description": "time passed"}))["expired"] is True
        assert v2(registry, robot["name"], robot["secret"]) == 401
        assert ok(admin.get(path))["expired"] is True
        renewed = ok(admin.patch(path, json={"expires_in_days": 1}))
        assert renewed["expired"] is False
        assert v2(registry, robot["name"], robot["secret"]) == 200
        assert ok(admin.patch(path, json={"expires_in_days": None}))["expires_at"] is None


def test_project_robots(registry: Registry) -> None:
    project, other = registry.project(), registry.project()
    owner, maintainer, developer = registry.user(), registry.user(), registry.user()
    registry.member(project, owner[0], "project_admin")
    registry.member(project, maintainer[0], "maintainer")
    registry.member(project, developer[0], "developer")
    grant = [{"project": project, "repositories": [f"{project}/ci/*"], "actions": ["pull", "push"]}]
    with registry.api(owner) as client:
        made = ok(
            client.post(f"/projects/{project}/robots", json={"name": "ci", "permissions": grant}),
            201,
        )
        assert made["name"] == f"robot${project}+ci" and made["project"] == project
        for bad in (
            [{"project": other, "actions": ["pull"]}],
            [{"project": "*", "actions": ["pull"]}],
            [*grant, {"project": other, "actions": ["pull"]}],
        ):
            body = {"name": unique("x"), "permissions": bad}
            error(client.post(f"/projects/{project}/robots", json=body), 403, "DENIED")
        error(client.get("/robots"), 403, "DENIED")  # system robots: administrators only
        error(client.get(f"/projects/{other}/robots"), 404, "NOT_FOUND")
    with registry.api(maintainer) as client:
        assert [r["name"] for r in ok(client.get(f"/projects/{project}/robots"))] == [made["name"]]
        assert ok(client.get(f"/projects/{project}/robots/ci"))["name"] == made["name"]
        error(client.post(f"/projects/{project}/robots/ci/secret"), 403, "DENIED")
        error(
            client.patch(f"/projects/{project}/robots/ci", json={"disabled": True}), 403, "DENIED"
        )
        error(client.delete(f"/projects/{project}/robots/ci"), 403, "DENIED")
    with registry.api(developer) as client:
        error(client.get(f"/projects/{project}/robots"), 403, "DENIED")
    with registry.admin() as admin:  # a project robot is not a system robot, nor another's
        error(admin.get(f"/robots/{made['name']}"), 404, "NOT_FOUND")
        error(admin.get(f"/projects/{other}/robots/{made['name']}"), 404, "NOT_FOUND")

    creds = (made["name"], made["secret"])
    with registry.registry(creds) as reg:  # the grant works on /v2/, and only within it
        push_image(reg, f"{project}/ci/app", "v1")
        assert reg.get(f"/v2/{project}/other/tags/list").status_code in (401, 403)
    with registry.api(creds) as client:  # and on the API: a project it can pull from
        assert ok(client.get(f"/projects/{project}/repositories/ci/app/-/artifacts"))


def test_system_robot_grants_name_existing_projects(registry: Registry) -> None:
    with registry.admin() as admin:
        body = {
            "name": unique("s"),
            "permissions": [{"project": unique("nope"), "actions": ["pull"]}],
        }
        error(admin.post("/robots", json=body), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ci", "permissions": []},
        {"name": "ci"},
        {"name": "ci", "permissions": [{"project": "p", "actions": ["fly"]}]},
        {"name": "ci", "permissions": [{"project": "p", "actions": []}]},
        {"name": "ci", "permissions": [{"project": "p", "actions": ["pull"], "extra": 1}]},
        {"name": "CI", "permissions": [{"project": "p", "actions": ["pull"]}]},
        {"name": "robot$ci", "permissions": [{"project": "p", "actions": ["pull"]}]},
        {"name": "a+b", "permissions": [{"project": "p", "actions": ["pull"]}]},
        {
            "name": "ci",
            "expires_in_days": 0,
            "permissions": [{"project": "p", "actions": ["pull"]}],
        },
        {
            "name": "ci",
            "expires_in_days": "30",
            "permissions": [{"project": "p", "actions": ["pull"]}],
        },
        {
            "name": "ci",
            "expires_in_days": 10**9,
            "permissions": [{"project": "p", "actions": ["pull"]}],
        },
        {
            "name": "ci",
            "description": "x" * 1025,
            "permissions": [{"project": "p", "actions": ["pull"]}],
        },
        {
            "name": "ci",
            "permissions": [{"project": "p", "repositories": [""], "actions": ["pull"]}],
        },
    ],
)
def test_invalid_robots_are_422(registry: Registry, body: dict[str, object]) -> None:
    with registry.admin() as admin:
        error(admin.post("/robots", json=body), 422, "INVALID_REQUEST")


def test_secrets_are_never_shown_again_nor_logged(registry: Registry) -> None:
    project = registry.project()
    robot = registry.robot(project, [{"project": project, "actions": ["pull"]}])
    with registry.admin() as admin:
        rotated = ok(admin.post(f"/projects/{project}/robots/{robot['name']}/secret"))["secret"]
        trail = admin.get("/audit-logs", params={"project": project, "page_size": 100}).text
        views = [
            admin.get(f"/projects/{project}/robots").text,
            admin.get(f"/projects/{project}/robots/{robot['name']}").text,
        ]
    for secret in (robot["secret"], rotated):
        assert secret not in trail and all(secret not in v for v in views)
        assert secret not in registry.server.log()
    assert '"robot.create"' in trail and '"robot.rotate"' in trail
