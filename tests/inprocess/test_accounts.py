"""The management API over the domain services, in process: users, projects,
members, robots and their secrets, with the audit trail they leave."""

from __future__ import annotations

import httpx

from tests.inprocess.conftest import ADMIN, InProcess


def ok(r: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


async def test_robot_lifecycle_and_audit(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as admin:
        ok(await admin.post("/api/v1/projects", json={"name": "team"}), 201)
        made = ok(
            await admin.post(
                "/api/v1/projects/team/robots",
                json={"name": "ci", "permissions": [{"project": "team", "actions": ["pull"]}]},
            ),
            201,
        )
        old = (made["name"], made["secret"])
        assert made["name"] == "robot$team+ci"
        async with registry.client(auth=old) as robot:
            assert (await robot.get("/v2/")).status_code == 200
        rotated = ok(await admin.post("/api/v1/projects/team/robots/ci/secret"))
        async with registry.client(auth=old) as robot:
            assert (await robot.get("/v2/")).status_code == 401
        async with registry.client(auth=(rotated["name"], rotated["secret"])) as robot:
            assert (await robot.get("/v2/")).status_code == 200
        r = await admin.post(
            "/api/v1/projects/team/robots",
            json={"name": "x", "permissions": [{"project": "other", "actions": ["pull"]}]},
        )
        assert r.status_code == 403  # a project robot only reaches its own project
        logs = ok(await admin.get("/api/v1/audit-logs", params={"project": "team"}))
        actions = {e["action"] for e in logs}
        assert {"project.create", "robot.create", "robot.rotate"} <= actions


async def test_users_members_and_who_may_see_what(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as admin:
        ok(await admin.post("/api/v1/users", json={"username": "Dana", "password": "d" * 12}), 201)
        r = await admin.post("/api/v1/users", json={"username": "dana", "password": "e" * 12})
        assert r.status_code == 409
        ok(await admin.post("/api/v1/projects", json={"name": "priv"}), 201)
        member = ok(
            await admin.post(
                "/api/v1/projects/priv/members",
                json={"kind": "user", "name": "DANA", "role": "guest"},
            ),
            201,
        )
        assert member["name"] == "Dana"  # the user as stored
    async with registry.client(auth=("dana", "d" * 12)) as dana:
        names = [p["name"] for p in ok(await dana.get("/api/v1/projects"))]
        assert names == ["priv"]
        r = await dana.patch("/api/v1/projects/priv", json={"public": True})
        assert r.status_code == 403
        assert (await dana.get("/api/v1/projects/elsewhere")).status_code == 404
        me = ok(await dana.get("/api/v1/users/current"))
        assert me["username"] == "Dana" and me["memberships"][0]["role"] == "guest"
        r = await dana.patch("/api/v1/users/Dana", json={"password": "n" * 12})
        assert r.status_code == 403  # without current_password
        r = await dana.patch(
            "/api/v1/users/dana", json={"password": "n" * 12, "current_password": "d" * 12}
        )
        assert r.status_code == 200, r.text
