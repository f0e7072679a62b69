"""Projects through the management API: creation (anyone, who becomes project_admin),
visibility, quotas (administrators) with usage, and deletion of empty projects."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.api.conftest import Registry, error, ok, unique
from tests.spec.helpers import push_blob, push_image, sha256


def test_project_lifecycle(registry: Registry) -> None:
    name = unique("life")
    with registry.admin() as admin:
        made = ok(admin.post("/projects", json={"name": name}), 201)
        assert made["public"] is False and made["quota_bytes"] is None and made["used_bytes"] == 0
        assert ok(admin.get(f"/projects/{name}"))["name"] == name
        assert [p["name"] for p in ok(admin.get("/projects", params={"q": name}))] == [name]
        assert ok(admin.patch(f"/projects/{name}", json={"public": True}))["public"] is True
        assert ok(admin.patch(f"/projects/{name}", json={}))["public"] is True  # nothing to do
        assert admin.delete(f"/projects/{name}").status_code == 204
        error(admin.get(f"/projects/{name}"), 404, "NOT_FOUND")
        error(admin.delete(f"/projects/{name}"), 404, "NOT_FOUND")
        error(admin.patch(f"/projects/{name}", json={"public": False}), 404, "NOT_FOUND")


def test_any_user_may_create_a_project_and_administers_it(registry: Registry) -> None:
    user = registry.user()
    name = unique("mine")
    with registry.api(user) as client:
        made = ok(client.post("/projects", json={"name": name, "public": False}), 201)
        assert made["name"] == name
        members = ok(client.get(f"/projects/{name}/members"))
        assert [(m["name"], m["role"]) for m in members] == [(user[0], "project_admin")]
        assert name in [p["name"] for p in ok(client.get("/projects"))]
        error(client.post("/projects", json={"name": unique("q"), "quota_bytes": 1}), 403, "DENIED")
        error(client.post("/projects", json={"name": name}), 409, "CONFLICT")
    with registry.admin() as admin:
        error(admin.post("/projects", json={"name": name}), 409, "CONFLICT")
    error(
        httpx.post(registry.url + "/api/v1/projects", json={"name": unique("a")}),
        401,
        "UNAUTHORIZED",
    )
    robot = registry.robot(None, [{"project": "*", "actions": ["pull", "push"]}])
    with registry.api((robot["name"], robot["secret"])) as client:
        error(client.post("/projects", json={"name": unique("r")}), 403, "DENIED")


@pytest.mark.parametrize(
    "name", ["Team-A", "-team", "team-", "a..b", "a___b", "a/b", "a b", "", "x" * 256, "é"]
)
def test_project_names_follow_the_grammar(registry: Registry, name: str) -> None:
    with registry.admin() as admin:
        error(admin.post("/projects", json={"name": name}), 422, "INVALID_REQUEST")


def test_private_projects_are_invisible_to_outsiders(registry: Registry) -> None:
    tag = unique("vis")
    private = registry.project(name=f"{tag}-priv")
    public = registry.project(name=f"{tag}-pub", public=True)
    outsider = registry.user()
    member = registry.user()
    registry.member(private, member[0], "limited_guest")
    anonymous = registry.api()
    with anonymous, registry.api(outsider) as out, registry.api(member) as mem:
        for path in ("", "/quota", "/members", "/repositories", "/robots", "/audit-logs"):
            # exactly as if it did not exist: 404 for users, 401 without credentials
            for project in (private, unique("none")):
                error(out.get(f"/projects/{project}{path}"), 404, "NOT_FOUND")
                r = anonymous.get(f"/projects/{project}{path}")
                error(r, 401, "UNAUTHORIZED")
                assert r.headers["www-authenticate"] == 'Basic realm="dockyard"'
        assert ok(anonymous.get(f"/projects/{public}"))["public"] is True
        assert ok(out.get(f"/projects/{public}/quota"))["quota_bytes"] is None
        assert ok(mem.get(f"/projects/{private}"))["name"] == private

        def names(client: httpx.Client, **params: object) -> set[str]:
            return {p["name"] for p in ok(client.get("/projects", params={"q": tag, **params}))}

        assert names(anonymous) == {public}
        assert names(out) == {public}
        assert names(mem) == {public, private}
        assert names(mem, public="true") == {public}
        assert names(mem, public="false") == {private}
        with registry.admin() as admin:
            assert names(admin) == {public, private}
            assert names(admin, public="false") == {private}


def test_quota_and_usage(registry: Registry) -> None:
    name = registry.project("quota")
    owner = registry.user()
    registry.member(name, owner[0], "project_admin")
    with registry.api(owner) as pa:
        error(pa.put(f"/projects/{name}/quota", json={"quota_bytes": 1}), 403, "DENIED")
        error(pa.patch(f"/projects/{name}", json={"quota_bytes": 1}), 403, "DENIED")
        assert ok(pa.patch(f"/projects/{name}", json={"public": True}))["public"] is True
    with registry.admin() as admin:
        got = ok(admin.put(f"/projects/{name}/quota", json={"quota_bytes": 50_000}))
        assert got == {"quota_bytes": 50_000, "used_bytes": 0}
        with registry.registry() as reg:
            data = os.urandom(20_000)
            push_blob(reg, f"{name}/app", data)
            push_blob(reg, f"{name}/other", data)  # the same blob twice: counted once
            assert ok(admin.get(f"/projects/{name}/quota"))["used_bytes"] == 20_000
            over = os.urandom(40_000)
            r = reg.post(
                f"/v2/{name}/app/blobs/uploads/", params={"digest": sha256(over)}, content=over
            )
            assert r.status_code == 403 and "quota" in r.json()["errors"][0]["message"]
        project = ok(admin.get(f"/projects/{name}"))
        assert project["quota_bytes"] == 50_000 and project["used_bytes"] == 20_000
        got = ok(admin.patch(f"/projects/{name}", json={"quota_bytes": None}))
        assert got["quota_bytes"] is None and got["used_bytes"] == 20_000
        error(
            admin.put(f"/projects/{name}/quota", json={"quota_bytes": -1}), 422, "INVALID_REQUEST"
        )
        error(
            admin.put(f"/projects/{name}/quota", json={"quota_bytes": "1"}), 422, "INVALID_REQUEST"
        )
        error(admin.put(f"/projects/{name}/quota", json={}), 422, "INVALID_REQUEST")
        assert (
            ok(admin.put(f"/projects/{name}/quota", json={"quota_bytes": 2.0e5}))["quota_bytes"]
            == 200_000
        )


def test_a_project_with_repositories_is_not_deleted(registry: Registry) -> None:
    name = registry.project("full")
    with registry.registry() as reg:
        push_image(reg, f"{name}/app", "v1")
    with registry.admin() as admin:
        err = error(admin.delete(f"/projects/{name}"), 409, "CONFLICT")
        assert "repositories" in err["message"]
        assert admin.delete(f"/projects/{name}/repositories/app").status_code == 204
        assert admin.delete(f"/projects/{name}").status_code == 204
