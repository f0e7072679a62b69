"""Users through the management API: administrators manage them, everyone manages
their own password and email, and who-am-I answers for users, robots and tokens."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.api.conftest import PASSWORD, Registry, error, ok, unique

BASIC_CHALLENGE = 'Basic realm="dockyard"'


def test_user_lifecycle(registry: Registry) -> None:
    name = unique("life")
    with registry.admin() as admin:
        made = ok(
            admin.post("/users", json={"username": name, "password": PASSWORD, "email": "l@x.org"}),
            201,
        )
        assert made["username"] == name and made["source"] == "local"
        assert made["email"] == "l@x.org" and made["is_admin"] is False
        assert not {"password", "password_hash"} & set(made)
        assert ok(admin.get(f"/users/{name}"))["username"] == name
        listed = ok(admin.get("/users", params={"q": name}))
        assert [u["username"] for u in listed] == [name]

        got = ok(admin.patch(f"/users/{name}", json={"email": None, "is_admin": True}))
        assert got["email"] is None and got["is_admin"] is True
        got = ok(admin.patch(f"/users/{name}", json={"disabled": True}))
        assert got["disabled"] is True
        with registry.api((name, PASSWORD)) as user:
            error(user.get("/users/current"), 401, "UNAUTHORIZED")
        ok(admin.patch(f"/users/{name}", json={"disabled": False}))
        with registry.api((name, PASSWORD)) as user:
            assert ok(user.get("/users/current"))["is_admin"] is True

        assert admin.delete(f"/users/{name}").status_code == 204
        error(admin.get(f"/users/{name}"), 404, "NOT_FOUND")
        error(admin.delete(f"/users/{name}"), 404, "NOT_FOUND")
        error(admin.patch(f"/users/{name}", json={"email": "a@b.c"}), 404, "NOT_FOUND")


def test_names_are_unique_and_current_is_reserved(registry: Registry) -> None:
    name, _ = registry.user()
    with registry.admin() as admin:
        error(admin.post("/users", json={"username": name, "password": PASSWORD}), 409, "CONFLICT")
        error(
            admin.post("/users", json={"username": "current", "password": PASSWORD}),
            409,
            "CONFLICT",
        )


def test_what_users_may_do_to_themselves(registry: Registry) -> None:
    me = registry.user()
    other, _ = registry.user()
    with registry.api(me) as user:
        assert ok(user.get(f"/users/{me[0]}"))["username"] == me[0]
        error(user.get(f"/users/{other}"), 403, "DENIED")
        error(user.get(f"/users/{unique('ghost')}"), 403, "DENIED")  # existence is not told
        error(user.get("/users"), 403, "DENIED")
        error(
            user.post("/users", json={"username": unique("x"), "password": PASSWORD}), 403, "DENIED"
        )
        error(user.patch(f"/users/{other}", json={"email": "a@b.c"}), 403, "DENIED")
        error(user.delete(f"/users/{other}"), 403, "DENIED")
        error(user.patch(f"/users/{me[0]}", json={"is_admin": True}), 403, "DENIED")
        assert ok(user.patch(f"/users/{me[0]}", json={"email": "me@x.org"}))["email"] == "me@x.org"

        new = "a-brand-new-password"
        error(user.patch(f"/users/{me[0]}", json={"password": new}), 403, "DENIED")
        wrong = {"password": new, "current_password": "not-my-password"}
        error(user.patch(f"/users/{me[0]}", json=wrong), 403, "DENIED")
        ok(user.patch(f"/users/{me[0]}", json={"password": new, "current_password": PASSWORD}))
    with registry.api(me) as old:
        error(old.get("/users/current"), 401, "UNAUTHORIZED")
    with registry.api((me[0], new)) as fresh:
        assert ok(fresh.get("/users/current"))["username"] == me[0]
    with registry.admin() as admin:  # an administrator sets others' passwords without theirs
        ok(admin.patch(f"/users/{me[0]}", json={"password": PASSWORD}))
    with registry.api(me) as user:
        ok(user.get("/users/current"))


def test_administrators_cannot_lock_themselves_out(registry: Registry) -> None:
    admin_name = registry.server.admin[0]
    with registry.admin() as admin:
        error(admin.delete(f"/users/{admin_name}"), 409, "CONFLICT")
        error(admin.patch(f"/users/{admin_name}", json={"is_admin": False}), 409, "CONFLICT")
        error(admin.patch(f"/users/{admin_name}", json={"disabled": True}), 409, "CONFLICT")
        assert ok(admin.get("/users/current"))["is_admin"] is True


def test_who_am_i(registry: Registry) -> None:
    user = registry.user()
    project = registry.project()
    registry.member(project, user[0], "developer", [f"{project}/api/*"])
    with registry.api(user) as client:
        me = ok(client.get("/users/current"))
    assert me["username"] == user[0] and me["kind"] == "user" and me["is_admin"] is False
    assert me["memberships"] == [
        {
            "project": project,
            "role": "developer",
            "repositories": [f"{project}/api/*"],
            "via": "user",
        }
    ]
    robot = registry.robot(project, [{"project": project, "actions": ["pull"]}])
    with registry.api((robot["name"], robot["secret"])) as client:
        me = ok(client.get("/users/current"))
    assert me["kind"] == "robot" and me["username"] == robot["name"]
    assert me["permissions"] == [{"project": project, "repositories": [], "actions": ["pull"]}]

    anonymous = httpx.get(registry.url + "/api/v1/users/current")
    error(anonymous, 401, "UNAUTHORIZED")
    assert anonymous.headers["www-authenticate"] == BASIC_CHALLENGE
    bad = httpx.get(registry.url + "/api/v1/users/current", auth=(user[0], "wrong-password"))
    error(bad, 401, "UNAUTHORIZED")
    assert bad.headers["www-authenticate"] == BASIC_CHALLENGE


def test_bearer_tokens_without_scope_authenticate(registry: Registry) -> None:
    user = registry.user()

    def token(**params: str) -> str:
        r = httpx.get(
            registry.url + "/auth/token", params={"service": "dockyard", **params}, auth=user
        )
        return str(ok(r)["token"])

    plain = token()
    r = httpx.get(
        registry.url + "/api/v1/users/current", headers={"Authorization": f"Bearer {plain}"}
    )
    assert ok(r)["username"] == user[0]
    scoped = token(scope="repository:nowhere/x:pull")
    r = httpx.get(
        registry.url + "/api/v1/users/current", headers={"Authorization": f"Bearer {scoped}"}
    )
    assert error(r, 401, "UNAUTHORIZED")["message"].startswith("a repository-scoped token")
    r = httpx.get(registry.url + "/api/v1/users/current", headers={"Authorization": "Bearer junk"})
    error(r, 401, "UNAUTHORIZED")
    assert r.headers["www-authenticate"] == BASIC_CHALLENGE
    with registry.admin() as admin:  # a disabled user's tokens stop working at once
        ok(admin.patch(f"/users/{user[0]}", json={"disabled": True}))
    r = httpx.get(
        registry.url + "/api/v1/users/current", headers={"Authorization": f"Bearer {plain}"}
    )
    error(r, 401, "UNAUTHORIZED")


def test_cli_secrets_are_for_openid_connect_users(registry: Registry) -> None:
    with registry.api(registry.user()) as user:
        error(user.post("/users/current/cli-secret"), 409, "CONFLICT")
    error(httpx.post(registry.url + "/api/v1/users/current/cli-secret"), 401, "UNAUTHORIZED")


def test_paging_headers(registry: Registry) -> None:
    prefix = unique("page")
    with registry.admin() as admin:
        for i in range(3):
            ok(admin.post("/users", json={"username": f"{prefix}-{i}", "password": PASSWORD}), 201)
        first = admin.get("/users", params={"q": prefix, "page_size": 2})
        assert [u["username"] for u in ok(first)] == [f"{prefix}-0", f"{prefix}-1"]
        assert first.headers["x-total-count"] == "3"
        links = dict(_links(first.headers["link"]))
        assert _query(links["next"]) == {"q": prefix, "page": "2", "page_size": "2"}
        assert _query(links["first"])["page"] == "1"
        assert "prev" not in links and links["last"] == links["next"]
        second = admin.get(links["next"].removeprefix("/api/v1"))
        assert [u["username"] for u in ok(second)] == [f"{prefix}-2"]
        links = dict(_links(second.headers["link"]))
        assert "next" not in links and _query(links["prev"])["page"] == "1"
        beyond = admin.get("/users", params={"q": prefix, "page": 9, "page_size": 2})
        assert ok(beyond) == [] and beyond.headers["x-total-count"] == "3"


def _query(url: str) -> dict[str, str]:
    parsed = httpx.URL(url)
    assert parsed.path == "/api/v1/users"
    return dict(parsed.params)


def _links(header: str) -> list[tuple[str, str]]:
    out = []
    for part in header.split(","):
        url, rel = part.split(";")
        out.append((rel.strip().removeprefix('rel="').removesuffix('"'), url.strip()[1:-1]))
    return out


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"username": "short-pw", "password": "1234567"}),
        ("POST", "/users", {"username": "bad name", "password": PASSWORD}),
        ("POST", "/users", {"username": "robot$x", "password": PASSWORD}),
        ("POST", "/users", {"username": "x" * 256, "password": PASSWORD}),
        ("POST", "/users", {"username": "nul\u0000", "password": PASSWORD}),
        ("POST", "/users", {"username": "extra", "password": PASSWORD, "role": "admin"}),
        ("POST", "/users", {"username": "types", "password": PASSWORD, "is_admin": "yes"}),
        ("POST", "/users", {"username": "mail", "password": PASSWORD, "email": "no-at-sign"}),
        ("POST", "/users", {"password": PASSWORD}),
        ("POST", "/users", ["not", "an", "object"]),
        ("PATCH", "/users/admin", {"disabled": 0}),
        ("GET", "/users?page=0", None),
        ("GET", "/users?page_size=101", None),
        ("GET", "/users?page=abc", None),
        ("GET", "/users?q=%00", None),
    ],
)
def test_invalid_requests_are_422(registry: Registry, method: str, path: str, body: object) -> None:
    with registry.admin() as admin:
        r = admin.request(method, path, json=body)
    err = error(r, 422, "INVALID_REQUEST")
    assert err["detail"] and all({"loc", "msg", "type"} <= set(d) for d in err["detail"])
    assert PASSWORD not in r.text  # rejected input is not echoed back


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"null", b""])
def test_unreadable_bodies_are_client_errors(registry: Registry, raw: bytes) -> None:
    with registry.admin() as admin:
        r = admin.post("/users", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["errors"][0]["code"] == "INVALID_REQUEST"


def test_unknown_routes_and_methods(registry: Registry) -> None:
    with registry.admin() as admin:
        error(admin.get("/nothing-here"), 404, "NOT_FOUND")
        r = admin.put("/users")
        error(r, 405, "UNSUPPORTED")
        assert r.headers["allow"] == "GET, POST"
        assert admin.patch("/users/current").headers["allow"] == "GET"


def test_documents_and_plumbing(registry: Registry) -> None:
    doc = ok(httpx.get(registry.url + "/api/v1/openapi.json"))
    assert doc["info"]["title"] == "Dockyard"
    assert set(doc["components"]["securitySchemes"]) == {"basic", "bearer"}
    assert all(path.startswith("/api/v1/") for path in doc["paths"])
    page = httpx.get(registry.url + "/api/v1/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    r = httpx.get(registry.url + "/api/v1/users/current", headers={"X-Request-Id": "trace-me"})
    assert r.headers["x-request-id"] == "trace-me"  # the dispatcher's plumbing holds
    metrics = httpx.get(registry.url + "/metrics").text
    routes = set(re.findall(r'route="(/api/[^"]*)"', metrics))
    assert "/api/v1/users/current" in routes
    assert routes <= {*doc["paths"], "/api/v1", "/api/v1/openapi.json", "/api/v1/docs"}
