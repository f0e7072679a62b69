"""Web UI sessions are kept on the server: signing out ends the session, so a copy of
its cookie (stolen, or still in another tab) is refused from then on; "sign out
everywhere" ends all of a user's sessions; a password reset or disabling the user
ends them too; only the user and administrators may end them."""

from __future__ import annotations

import httpx
import pytest

from tests.access.conftest import World, api_ok, create_user

CSRF = {"X-Requested-With": "dockyard-ui"}
COOKIE = "dockyard_session"


def sign_in(world: World, username: str, password: str) -> str:
    """POST /auth/login as the UI does; the session cookie's value."""
    with httpx.Client(base_url=world.server.url, timeout=30) as browser:
        r = browser.post(
            "/auth/login", json={"username": username, "password": password}, headers=CSRF
        )
        assert r.status_code == 200, r.text
        return str(browser.cookies[COOKIE])


def as_session(world: World, cookie: str) -> httpx.Client:
    return httpx.Client(
        base_url=world.server.url, cookies={COOKIE: cookie}, headers=CSRF, timeout=30
    )


def who(world: World, cookie: str) -> str | None:
    """Whom the cookie signs in, by the API and by /auth/session (they must agree)."""
    with as_session(world, cookie) as c:
        me = c.get("/api/v1/users/current")
        session = api_ok(c.get("/auth/session"))
    if me.status_code == 401:
        assert me.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert session["username"] is None
        return None
    assert me.status_code == 200, me.text
    assert session["username"] == me.json()["username"]
    return str(me.json()["username"])


@pytest.fixture
def user(world: World, request: pytest.FixtureRequest) -> tuple[str, str]:
    name = "s-" + request.node.name.removeprefix("test_")[:40].replace("_", "-")
    return create_user(world.admin, name)


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(
    world: World, user: tuple[str, str]
) -> None:
    cookie = sign_in(world, *user)
    other = sign_in(world, *user)  # a second browser of the same person
    assert who(world, cookie) == user[0]
    with as_session(world, cookie) as browser:
        r = browser.post("/auth/logout")
        assert r.status_code == 204
        assert 'dockyard_session=""' in r.headers["set-cookie"]  # cleared in the browser
    for _ in range(3):  # a replayed copy stays refused
        assert who(world, cookie) is None
    with as_session(world, cookie) as replay:
        r = replay.post("/api/v1/users/current/cli-secret")
        assert r.status_code == 401
    assert who(world, other) == user[0]  # only that session ended
    with as_session(world, cookie) as browser:  # signing out again is harmless
        assert browser.post("/auth/logout").status_code == 204


def test_sign_out_everywhere(world: World, user: tuple[str, str]) -> None:
    cookies = [sign_in(world, *user) for _ in range(3)]
    with as_session(world, cookies[0]) as c:
        ended = api_ok(c.delete(f"/api/v1/users/{user[0]}/sessions"))
    assert ended == {"ended": 3}
    assert [who(world, k) for k in cookies] == [None, None, None]
    fresh = sign_in(world, *user)  # signing in again works
    assert who(world, fresh) == user[0]
    with world.api(user) as basic:  # Basic auth may do it too, for oneself
        assert api_ok(basic.delete(f"/api/v1/users/{user[0]}/sessions")) == {"ended": 1}
    audit = api_ok(world.admin.get("/api/v1/audit-logs", params={"action": "user.sessions_ended"}))
    assert any(e["resource"] == f"user/{user[0]}" for e in audit)


def test_only_the_user_or_an_administrator_may_end_sessions(
    world: World, user: tuple[str, str]
) -> None:
    cookie = sign_in(world, *user)
    with world.api(world.users["outsider"]) as outsider:
        r = outsider.delete(f"/api/v1/users/{user[0]}/sessions")
        assert r.status_code == 403, r.text
    assert who(world, cookie) == user[0]
    assert api_ok(world.admin.delete(f"/api/v1/users/{user[0]}/sessions")) == {"ended": 1}
    assert who(world, cookie) is None
    r = world.admin.delete("/api/v1/users/no-such-user/sessions")
    assert r.status_code == 404


def test_a_password_reset_or_disabling_ends_the_sessions(
    world: World, user: tuple[str, str]
) -> None:
    name = user[0]
    cookie = sign_in(world, *user)
    api_ok(world.admin.patch(f"/api/v1/users/{name}", json={"password": "a-new-password-1"}))
    assert who(world, cookie) is None
    cookie = sign_in(world, name, "a-new-password-1")
    api_ok(world.admin.patch(f"/api/v1/users/{name}", json={"disabled": True}))
    api_ok(world.admin.patch(f"/api/v1/users/{name}", json={"disabled": False}))
    assert who(world, cookie) is None  # enabling again does not bring it back
    cookie = sign_in(world, name, "a-new-password-1")
    api_ok(world.admin.patch(f"/api/v1/users/{name}", json={"email": "x@example.org"}))
    assert who(world, cookie) == name  # other changes leave sessions alone
    api_ok(world.admin.delete(f"/api/v1/users/{name}"))
    assert who(world, cookie) is None


def test_forged_and_tampered_cookies_are_refused(world: World, user: tuple[str, str]) -> None:
    cookie = sign_in(world, *user)
    payload, _, signature = cookie.rpartition(".")
    for bad in (
        "x",
        cookie[:-2] + ("aa" if not cookie.endswith("aa") else "bb"),
        f"{payload}.{signature[::-1]}",
        "eyJ1IjoiYWRtaW4ifQ.Z0aAAA.c2lnbmF0dXJl",  # {"u": "admin"} with a made-up signature
    ):
        assert who(world, bad) is None
