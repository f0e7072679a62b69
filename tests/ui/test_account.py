"""The account page of a local user: changing the password (the current one checked,
the repetition compared, every session ended, the new password then signing in) and
signing out everywhere (another browser's session ends with it). Without OpenID
Connect the sign-in page offers no single sign-on."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import OpenPage, Ui
from tests.ui.support import Watch, sign_in, visit

SIGN_IN = "Sign in to Dockyard"


def test_no_single_sign_on_without_oidc(page: Page) -> None:
    visit(page, "#/login")
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_have_count(0)


def test_changing_the_password(ui: Ui, page: Page, watch: Watch) -> None:
    name, password = ui.user("acct-pw", "first-password-1")
    sign_in(page, name, password)
    visit(page, "#/account")
    form = page.get_by_role("form", name="Change password")
    form.get_by_label("Current password").fill("not-my-password")
    form.get_by_label("New password", exact=True).fill("second-password-2")
    form.get_by_label("New password again").fill("second-password-2")
    watch.allow(403)
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("the current password is wrong")

    form.get_by_label("Current password").fill(password)
    form.get_by_label("New password again").fill("second-password-3")
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The new password and its repetition differ.")

    form.get_by_label("New password again").fill("second-password-2")
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your password has changed")
    with ui.api((name, password)) as old:
        assert old.get("/users/current").status_code == 401
    sign_in(page, name, "second-password-2")


def test_signing_out_everywhere_ends_another_browsers_session(
    ui: Ui, open_page: OpenPage, watch: Watch
) -> None:
    name, password = ui.user("acct-everywhere", "everywhere-password-1")
    here, there = open_page(), open_page()
    sign_in(here, name, password)
    sign_in(there, name, password)
    visit(here, "#/account")
    here.once("dialog", lambda dialog: dialog.accept())
    here.get_by_role("button", name="Sign out everywhere").click()
    expect(here.get_by_role("heading", name=SIGN_IN)).to_be_visible()
    expect(here.get_by_role("status")).to_have_text("You are signed out in every browser.")
    # the other browser's next page: its request is refused (401), the sign-in form
    watch.allow(401)
    visit(there, "#/account")
    expect(there.get_by_role("heading", name=SIGN_IN)).to_be_visible()
