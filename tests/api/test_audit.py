"""The audit trail of changes made through the management API, its filters, and who
may read it."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.conftest import Registry, error, ok, unique


def test_changes_are_audited(registry: Registry) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    actor = registry.user("actor")
    project = unique("audited")
    with registry.api(actor) as client:
        ok(client.post("/projects", json={"name": project}), 201)
        ok(client.patch(f"/projects/{project}", json={"public": True}))
        guest = registry.user()
        added = ok(
            client.post(f"/projects/{project}/members", json={"name": guest[0], "role": "guest"}),
            201,
        )
        ok(client.patch(f"/projects/{project}/members/{added['id']}", json={"role": "developer"}))
        assert client.delete(f"/projects/{project}/members/{added['id']}").status_code == 204
        robot = ok(
            client.post(
                f"/projects/{project}/robots",
                json={"name": "ci", "permissions": [{"project": project, "actions": ["pull"]}]},
            ),
            201,
        )
        ok(client.post(f"/projects/{project}/robots/ci/secret"))
        assert client.delete(f"/projects/{project}/robots/ci").status_code == 204
        ok(client.patch(f"/users/{actor[0]}", json={"email": "actor@example.org"}))
    with registry.admin() as admin:
        ok(admin.put(f"/projects/{project}/quota", json={"quota_bytes": 1000}))

        mine = ok(admin.get("/audit-logs", params={"actor": actor[0], "page_size": 100}))
        assert all(e["actor"] == actor[0] and e["actor_kind"] == "user" for e in mine)
        assert all(e["address"] and e["outcome"] == "ok" for e in mine if e["action"] != "login")
        actions = [e["action"] for e in reversed(mine) if e["action"] != "login"]  # oldest first
        assert actions == [
            "project.create",
            "project.update",
            "member.add",
            "member.update",
            "member.remove",
            "robot.create",
            "robot.rotate",
            "robot.delete",
            "user.update",
        ]
        by_action = {e["action"]: e for e in mine}
        assert by_action["project.create"]["resource"] == project
        assert by_action["project.update"]["detail"] == {"public": True}
        assert by_action["member.add"]["resource"] == f"{project}/members/{added['id']}"
        assert by_action["member.add"]["detail"]["name"] == guest[0]
        assert by_action["robot.create"]["resource"] == f"{project}/robots/{robot['name']}"
        assert by_action["user.update"]["detail"] == {"changed": ["email"]}
        assert robot["secret"] not in str(mine)

        def query(**params: object) -> list[dict[str, object]]:
            return ok(admin.get("/audit-logs", params={"page_size": 100, **params}))  # type: ignore[no-any-return]

        assert {e["action"] for e in query(project=project, resource=f"{project}/members/")} == {
            "member.add",
            "member.update",
            "member.remove",
        }
        (quota,) = query(project=project, action="project.quota")
        assert quota["actor"] == "admin" and quota["detail"] == {"quota_bytes": 1000}
        assert query(actor=actor[0], since=dt.datetime.now(dt.UTC).isoformat()) == []
        assert len(query(actor=actor[0], since=before.isoformat())) == len(mine)
        assert query(actor=actor[0], until=before.isoformat()) == []
        naive = before.replace(tzinfo=None).isoformat()  # no zone: UTC
        assert len(query(actor=actor[0], since=naive)) == len(mine)
        assert query(actor=actor[0], outcome="failed") == []
        paged = admin.get("/audit-logs", params={"actor": actor[0], "page_size": 2})
        assert paged.headers["x-total-count"] == str(len(mine)) and len(ok(paged)) == 2


def test_user_changes_are_audited(registry: Registry) -> None:
    name = unique("audit-user")
    with registry.admin() as admin:
        ok(admin.post("/users", json={"username": name, "password": "pw-123456789"}), 201)
        ok(admin.patch(f"/users/{name}", json={"password": "pw-987654321", "disabled": True}))
        assert admin.delete(f"/users/{name}").status_code == 204
        trail = ok(admin.get("/audit-logs", params={"resource": f"user/{name}", "actor": "admin"}))
    assert [e["action"] for e in reversed(trail)] == ["user.create", "user.update", "user.delete"]
    assert trail[1]["detail"] == {"changed": ["disabled", "password"]}
    assert "pw-" not in str(trail)


def test_who_reads_the_trail(registry: Registry) -> None:
    project = registry.project()
    guest, limited, outsider = registry.user(), registry.user(), registry.user()
    registry.member(project, guest[0], "guest")
    registry.member(project, limited[0], "limited_guest")
    with registry.api(guest) as client:
        trail = ok(client.get(f"/projects/{project}/audit-logs"))
        assert trail and all(e["project"] == project for e in trail)
        assert any(e["action"] == "member.add" for e in trail)
        error(client.get("/audit-logs"), 403, "DENIED")
    with registry.api(limited) as client:
        error(client.get(f"/projects/{project}/audit-logs"), 403, "DENIED")
    with registry.api(outsider) as client:
        error(client.get(f"/projects/{project}/audit-logs"), 404, "NOT_FOUND")
    with registry.api() as anonymous:
        error(anonymous.get("/audit-logs"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "0.5"},
        {"since": "2024-01-01T12:99:00Z"},
        {"actor": "x" * 256},
        {"project": "Not A Project"},
        {"page": "-1"},
    ],
)
def test_bad_filters_are_422(registry: Registry, params: dict[str, str]) -> None:
    with registry.admin() as admin:
        error(admin.get("/audit-logs", params=params), 422, "INVALID_REQUEST")


def test_times_at_the_edges_of_the_calendar(registry: Registry) -> None:
    with registry.admin() as admin:
        for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-02-29"):
            ok(admin.get("/audit-logs", params={"since": since}))
