"""Directory users sign in through the UI's form against a real slapd
(tests/support/slapd.py): a wrong password is refused with the server's words; bob's
directory group makes him a member of the project it was given, and he sees that
project; alice's admin group gives her Administration; the account page says the
directory holds the password (no form to change it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support import signing
from tests.support.server import run_server
from tests.support.slapd import Slapd
from tests.ui.conftest import ENV, Ui
from tests.ui.support import Watch, ok, sign_in, visit


@pytest.fixture(scope="module")
def ui(
    tmp_path_factory: pytest.TempPathFactory, trusted_key: signing.PrivateKey, slapd: Slapd
) -> Iterator[Ui]:
    """This file's server signs people in against the directory."""
    env = {**ENV, **slapd.dockyard_env(admin_group="registry-admins")}
    base = tmp_path_factory.mktemp("ui-ldap")
    with run_server(base / "data", workers=1, env=env) as server:
        ui = Ui(server, trusted_key, env)
        with ui.api() as api:
            for name in ("team-b", "team-z"):
                ok(api.post("/projects", json={"name": name, "public": False}))
            member = {"kind": "group", "name": "team-b", "role": "developer", "repositories": None}
            ok(api.post("/projects/team-b/members", json=member))
        yield ui


def test_a_directory_user_signs_in_and_sees_the_projects_of_their_groups(
    ui: Ui, page: Page, slapd: Slapd, watch: Watch
) -> None:
    visit(page, "#/login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("not-bobs-password")
    watch.allow(401)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid username or password")

    sign_in(page, "bob", slapd.passwords["bob"])
    projects = page.get_by_role("table", name="Projects")
    expect(projects.get_by_role("link", name="team-b")).to_be_visible()
    expect(projects.get_by_role("link", name="team-z")).to_have_count(0)  # not his group's
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    visit(page, "#/account")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("ldap")
    expect(facts).to_contain_text("team-b")
    expect(page.get_by_role("heading", name="Password")).to_have_count(0)


def test_the_directory_admin_group_makes_an_administrator(ui: Ui, page: Page, slapd: Slapd) -> None:
    sign_in(page, "alice", slapd.passwords["alice"])
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Administration").click()
    users = page.get_by_role("table", name="Users")
    expect(users.get_by_role("row").filter(has_text="alice")).to_contain_text("ldap")
