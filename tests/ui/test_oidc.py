"""Single sign-on in the browser, against a real OpenID provider (node oidc-provider,
tests/support/oidc_provider.py): the sign-in page offers it only when the registry has
it; the authorization-code flow goes to the provider's own pages and lands back in the
UI signed in, with the provider's groups (alice is in the admin group, bob is not);
an OIDC user's CLI secret, made on the account page, logs a registry client in;
signing out ends the session on the server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import signing
from tests.support.oidc_provider import OidcProvider
from tests.support.server import run_server
from tests.ui.conftest import ENV, OpenPage, Ui
from tests.ui.support import ok, visit


@pytest.fixture(scope="module")
def ui(
    tmp_path_factory: pytest.TempPathFactory,
    trusted_key: signing.PrivateKey,
    oidc_provider: OidcProvider,
) -> Iterator[Ui]:
    """This file's server has OpenID Connect (the conftest's has not)."""
    env = {**ENV, **oidc_provider.dockyard_env()}
    base = tmp_path_factory.mktemp("ui-oidc")
    with run_server(base / "data", workers=1, env=env) as server:
        yield Ui(server, trusted_key, env)


def sso(page: Page, ui: Ui, account: str) -> None:
    """Through the sign-in page's single sign-on link and the provider's own pages."""
    visit(page, "#/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not page.url.startswith(ui.url + "/")  # the provider's page, not ours
    page.locator("input[name=login]").fill(account)
    page.locator("input[name=password]").fill("any")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    assert page.url.startswith(ui.url + "/")


def session_cookie(page: Page) -> str:
    (value,) = [c["value"] for c in page.context.cookies() if c["name"] == "dockyard_session"]
    return str(value)


def test_single_sign_on_lands_in_the_ui_with_the_providers_groups(
    ui: Ui, open_page: OpenPage
) -> None:
    alice = open_page()
    sso(alice, ui, "alice")
    nav = alice.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="alice")).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_be_visible()  # registry-admins

    bob = open_page()  # another browser: its own cookies
    sso(bob, ui, "bob")
    nav = bob.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="bob")).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    visit(bob, "#/account")
    expect(bob.get_by_text("team-b")).to_be_visible()  # groups from the provider
    expect(bob.get_by_role("heading", name="Password")).to_have_count(0)  # the provider's


def test_the_cli_secret_of_an_oidc_user_logs_a_registry_client_in(ui: Ui, page: Page) -> None:
    sso(page, ui, "bob")
    visit(page, "#/account")
    page.get_by_role("button", name="Generate a CLI secret").click()
    shown = page.locator("p", has_text="Shown once").locator("code")
    expect(shown).to_be_visible()
    secret = shown.inner_text()
    # what `docker login -u bob -p <secret>` does: Basic credentials at the token endpoint
    with httpx.Client(base_url=ui.url, timeout=30) as client:
        r = client.get("/auth/token", params={"service": "dockyard"}, auth=("bob", secret))
        assert r.status_code == 200, r.text
        r = client.get("/auth/token", params={"service": "dockyard"}, auth=("bob", "wrong"))
        assert r.status_code == 401


def test_a_bookmark_opened_signed_out_comes_back_after_single_sign_on(ui: Ui, page: Page) -> None:
    with ui.api() as api:
        ok(api.post("/projects", json={"name": "landing", "public": False}))
    visit(page, "#/projects/landing?tab=members")
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill("any")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", name="landing")).to_be_visible()
    assert page.url == f"{ui.url}/#/projects/landing?tab=members"


def test_signing_out_of_a_single_sign_on_session_ends_it(ui: Ui, page: Page) -> None:
    sso(page, ui, "alice")
    cookie = session_cookie(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    with httpx.Client(base_url=ui.url, cookies={"dockyard_session": cookie}) as replay:
        assert replay.get("/api/v1/users/current").status_code == 401
