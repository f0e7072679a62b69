"""The web UI's server side, in process: the page and its files with their security
headers and ETags, password sign-in and the session it opens (cookie flags, the CSRF
header on sign-in and on every cookie-authenticated change), no Basic challenge to a
script's request, and the read-only configuration view with its secrets masked."""

from __future__ import annotations

from pathlib import Path

from dockyard.ui.serve import CSP
from tests.inprocess.conftest import ADMIN, running

CSRF = {"X-Requested-With": "dockyard-ui"}


async def test_the_page_and_its_files(tmp_path: Path) -> None:
    async with running(tmp_path) as r, r.client() as c:
        page = await c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/ui/js/app.js">' in page.text
        script = await c.get("/ui/js/app.js")
        assert script.headers["content-type"].startswith("text/javascript")
        again = await c.get("/ui/js/app.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert (await c.get("/ui/nope.js")).status_code == 404
        assert (await c.post("/")).status_code == 405


async def test_sign_in_and_the_session(tmp_path: Path) -> None:
    creds = {"username": ADMIN[0], "password": ADMIN[1]}
    async with running(tmp_path) as r, r.client() as c:
        assert (await c.post("/auth/login", json=creds)).status_code == 403  # no CSRF header
        wrong = await c.post("/auth/login", json={**creds, "password": "wrong"}, headers=CSRF)
        assert wrong.status_code == 401
        assert (await c.post("/auth/login", content=b"{", headers=CSRF)).status_code == 422
        nobody = {"username": None, "is_admin": False, "oidc": False}
        assert (await c.get("/auth/session")).json() == nobody

        signed = await c.post("/auth/login", json=creds, headers=CSRF)
        assert signed.status_code == 200 and signed.json()["username"] == ADMIN[0]
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http, no https public_url
        admin = {"username": ADMIN[0], "is_admin": True, "oidc": False}
        assert (await c.get("/auth/session")).json() == admin

        # the cookie reads the API; a change needs the CSRF header too
        assert (await c.get("/api/v1/users/current")).json()["username"] == ADMIN[0]
        refused = await c.post("/api/v1/projects", json={"name": "p1"})
        assert refused.status_code == 403 and "x-requested-with" in refused.text
        made = await c.post("/api/v1/projects", json={"name": "p1"}, headers=CSRF)
        assert made.status_code == 201, made.text

        # signing out ends the session: the same cookie, sent again, is refused
        kept = c.cookies["dockyard_session"]
        assert (await c.post("/auth/logout")).status_code == 204
        c.cookies.set("dockyard_session", kept)
        assert (await c.get("/api/v1/users/current")).status_code == 401
        assert (await c.get("/auth/session")).json() == nobody


async def test_secure_cookie_behind_tls(tmp_path: Path) -> None:
    https = {"server": {"public_url": "https://registry.example.com"}}
    creds = {"username": ADMIN[0], "password": ADMIN[1]}
    async with running(tmp_path, (), https) as r, r.client() as c:
        signed = await c.post(
            "/auth/login", json=creds, headers={**CSRF, "Host": "registry.example.com"}
        )
        assert signed.status_code == 200, signed.text
        assert "secure" in signed.headers["set-cookie"].lower()


async def test_no_basic_challenge_for_a_script(tmp_path: Path) -> None:
    async with running(tmp_path) as r, r.client() as c:
        plain = await c.get("/api/v1/users/current")
        assert plain.status_code == 401 and plain.headers["www-authenticate"].startswith("Basic")
        script = await c.get("/api/v1/users/current", headers=CSRF)
        assert script.status_code == 401 and "www-authenticate" not in script.headers


async def test_settings_view_masks_secrets(tmp_path: Path) -> None:
    async with running(tmp_path) as r, r.client(ADMIN) as c:
        made = await c.post("/api/v1/users", json={"username": "u1", "password": "u1-password-1"})
        assert made.status_code == 201
    overrides = {  # read only: this Redis is never reached (the cache falls back)
        "redis": {"url": "redis://user:hunter2-redis@127.0.0.1:1/0"},
        "auth": {"login": {"max_failures": 100}, "ldap": {"bind_password": "hunter2-ldap"}},
    }
    async with running(tmp_path, (), overrides) as r, r.client(ADMIN) as c:
        found = await c.get("/api/v1/system/settings")
        assert found.status_code == 200, found.text
        assert "hunter2" not in found.text
        body = found.json()
        assert body["settings"]["redis"]["url"] == "redis://user:**********@127.0.0.1:1/0"
        assert body["settings"]["auth"]["ldap"]["bind_password"] == "**********"
        assert body["settings"]["data_dir"] == str(tmp_path)
        async with r.client(("u1", "u1-password-1")) as u:
            assert (await u.get("/api/v1/system/settings")).status_code == 403
