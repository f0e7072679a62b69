"""OpenID Connect through a running Dockyard and a real provider: browser login,
users and groups from claims, group membership granting access, and the per-user
CLI secret that `skopeo login` (docker login) uses, since OIDC users have no password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.access.conftest import api_ok
from tests.spec.helpers import image
from tests.support.oidc_provider import OidcProvider
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary


@pytest.fixture(scope="module")
def oidc_server(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = oidc_provider.dockyard_env()
    with run_server(tmp_path_factory.mktemp("oidc-dy") / "data", workers=1, env=env) as srv:
        yield srv


@contextmanager
def browser_login(srv: RunningServer, op: OidcProvider, who: str) -> Iterator[httpx.Client]:
    """Log in the way a browser does; the client holds the session cookie."""
    with httpx.Client(base_url=srv.url, timeout=30) as browser:
        yield _login(browser, srv, op, who)


def _login(browser: httpx.Client, srv: RunningServer, op: OidcProvider, who: str) -> httpx.Client:
    start = browser.get("/auth/oidc/login")
    assert start.status_code == 302, start.text
    callback = op.login(start.headers["location"], who)
    assert callback.startswith(f"{srv.url}/auth/oidc/callback?"), callback
    done = browser.get(callback.removeprefix(srv.url))
    assert done.status_code == 200, done.text
    assert "dockyard_session" in browser.cookies
    return browser


def test_login_maps_claims_and_groups(
    oidc_server: RunningServer, oidc_provider: OidcProvider
) -> None:
    with browser_login(oidc_server, oidc_provider, "bob") as bob:
        me = api_ok(bob.get("/api/v1/users/current"))
        assert me["username"] == "bob" and me["is_admin"] is False
    with browser_login(oidc_server, oidc_provider, "alice") as alice:
        me = api_ok(alice.get("/api/v1/users/current"))
        assert me["username"] == "alice" and me["is_admin"] is True  # registry-admins
    with httpx.Client(base_url=oidc_server.url, auth=oidc_server.admin) as admin:
        users = api_ok(admin.get("/api/v1/users", params={"q": "bob"}))
        (bob_rec,) = [u for u in users if u["username"] == "bob"]
        assert bob_rec["email"] == "bob@example.org" and bob_rec["source"] == "oidc"


def test_session_changes_need_the_csrf_header(
    oidc_server: RunningServer, oidc_provider: OidcProvider
) -> None:
    with browser_login(oidc_server, oidc_provider, "bob") as bob:
        r = bob.post("/api/v1/users/current/cli-secret")
        assert r.status_code == 403, r.text


def test_tampered_callback_is_refused(
    oidc_server: RunningServer, oidc_provider: OidcProvider
) -> None:
    with httpx.Client(base_url=oidc_server.url, timeout=30) as browser:
        start = browser.get("/auth/oidc/login")
        callback = oidc_provider.login(start.headers["location"], "bob")
        tampered = callback.replace("state=", "state=x")
        r = browser.get(tampered.removeprefix(oidc_server.url))
        assert r.status_code == 401 and "dockyard_session" not in browser.cookies
    # no pending login at all (cookie missing)
    r = httpx.get(callback)
    assert r.status_code == 401


@pytest.mark.e2e
def test_cli_secret_logs_skopeo_in_with_group_access(
    oidc_server: RunningServer, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    require_binary("skopeo")
    with httpx.Client(base_url=oidc_server.url, auth=oidc_server.admin, timeout=30) as admin:
        api_ok(admin.post("/api/v1/projects", json={"name": "team-b", "public": False}), 201)
        api_ok(
            admin.post(
                "/api/v1/projects/team-b/members",
                json={"kind": "group", "name": "team-b", "role": "developer", "repositories": None},
            ),
            201,
        )
        api_ok(admin.post("/api/v1/projects", json={"name": "team-z", "public": False}), 201)
    with oidc_server.client(oidc_server.admin) as reg:
        raw, doc = image(reg, "team-b/app")
        assert (
            reg.put(
                "/v2/team-b/app/manifests/v1",
                content=raw,
                headers={"Content-Type": doc["mediaType"]},
            ).status_code
            == 201
        )
    with browser_login(oidc_server, oidc_provider, "bob") as bob:
        got = api_ok(
            bob.post("/api/v1/users/current/cli-secret", headers={"X-Requested-With": "dockyard"})
        )
    secret = got["secret"]
    skopeo = Skopeo(oidc_server.hostport, workdir=tmp_path, credentials=("bob", secret))
    skopeo("inspect", "--tls-verify=false", skopeo.ref("team-b/app", "v1"))
    from tests.support.oci_layout import build_image

    img = build_image(tmp_path / "img", "v1", layers=[2048], seed="oidc-bob")
    skopeo.push_oci(img.layout, "v1", "team-b/app", "pushed")
    denied = skopeo.copy(f"oci:{img.layout}:v1", skopeo.ref("team-z/app", "v1"), check=False)
    assert denied.returncode != 0
    # a wrong secret is refused at login
    (tmp_path / "bad").mkdir()
    bad = Skopeo(oidc_server.hostport, workdir=tmp_path / "bad")
    r = bad(
        "login",
        "--tls-verify=false",
        "-u",
        "bob",
        "-p",
        "not-the-secret",
        oidc_server.hostport,
        check=False,
    )
    assert r.returncode != 0


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("#/projects/team-b?tab=members", "/#/projects/team-b?tab=members"),
        ("https://evil.example/", "/"),
        ("//evil.example/#/", "/"),
        ("#/x<script>", "/"),
        (None, "/"),
    ],
)
def test_a_browser_lands_on_the_ui_page_it_asked_for_and_nowhere_else(
    oidc_server: RunningServer, oidc_provider: OidcProvider, asked: str | None, lands: str
) -> None:
    with httpx.Client(base_url=oidc_server.url, timeout=30) as browser:
        start = browser.get("/auth/oidc/login", params={"next": asked} if asked else None)
        assert start.status_code == 302, start.text
        callback = oidc_provider.login(start.headers["location"], "bob")
        done = browser.get(callback.removeprefix(oidc_server.url), headers={"Accept": "text/html"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == lands
        assert "dockyard_session" in browser.cookies
