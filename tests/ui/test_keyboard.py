"""The keyboard alone: the sign-in form and a project's pages are tabbed through with
the focus always visible, every control they show reached, every control named (its
label, its text) in the accessibility tree; signing in and adding a member are done
with keys only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, StorageState, expect

from tests.supplychain.helpers import push_image
from tests.ui.conftest import OpenPage, Ui
from tests.ui.support import (
    DESKTOP,
    FOCUSED,
    MARK_FOCUSABLE,
    ok,
    sign_in,
    tab_through,
    unnamed_controls,
    visit,
)

PROJECT = "harbour"


@pytest.fixture(scope="module")
def project(ui: Ui) -> str:
    ui.user("lee", "lee-password-1")
    with ui.api() as api:
        ok(api.post("/projects", json={"name": PROJECT, "public": False}))
        member = {"kind": "group", "name": "platform-team", "role": "guest"}
        ok(api.post(f"/projects/{PROJECT}/members", json=member))
        robot = {
            "name": "ci",
            "description": "the release pipeline",
            "permissions": [{"project": PROJECT, "repositories": [], "actions": ["push"]}],
        }
        ok(api.post(f"/projects/{PROJECT}/robots", json=robot))
    with ui.registry() as registry:
        push_image(registry, f"{PROJECT}/api", "1.0")
        push_image(registry, f"{PROJECT}/worker", "1.0")
    return PROJECT


@pytest.fixture(scope="module")
def admin_state(browser: Browser, ui: Ui) -> Iterator[StorageState]:
    context = browser.new_context(base_url=ui.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, *ui.server.admin)
    state = context.storage_state()
    context.close()
    yield state


def tab_to(page: Page, wanted: Callable[[dict[str, Any]], bool], limit: int = 60) -> None:
    """Press Tab until the focused control is the one wanted."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is not None and wanted(focused):
            return
    raise AssertionError("the keyboard never reached the control")


def every_control_reached_with_visible_focus(page: Page) -> list[dict[str, Any]]:
    controls = page.evaluate(MARK_FOCUSABLE)
    assert controls, "no control on the page"
    seen = tab_through(page)
    reached = {s["key"] for s in seen}
    missed = page.evaluate(
        "(keys) => keys.map((k) => document.querySelector(`[data-tab-key='${k}']`).outerHTML"
        ".slice(0, 120))",
        [k for k in controls if k not in reached],
    )
    assert not missed, f"never reached with Tab: {missed}"
    hidden = [s for s in seen if not s["visible"]]
    assert not hidden, f"focus not visible on: {hidden}"
    unnamed = unnamed_controls(page.locator("body").aria_snapshot())
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    return seen


def test_the_sign_in_form_by_keyboard(ui: Ui, page: Page) -> None:
    visit(page, "#/login")
    form = page.get_by_role("main")
    expect(form.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    snapshot = form.aria_snapshot()
    for control in ('textbox "Username"', 'textbox "Password"', 'button "Sign in"'):
        assert control in snapshot, snapshot
    seen = every_control_reached_with_visible_focus(page)
    order = [s["text"] for s in seen]
    assert order.index("Username") < order.index("Password") < order.index("Sign in"), order
    # the skip link comes first from the top of the page and leads to the content
    assert "Skip to content" in order

    page.reload()
    expect(form.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    tab_to(page, lambda f: f["text"] == "Username")
    page.keyboard.type(ui.server.admin[0])
    page.keyboard.press("Tab")
    page.keyboard.type(ui.server.admin[1])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


TABS = [
    "",
    "?tab=members",
    "?tab=robots",
    "?tab=policies",
    "?tab=supplychain",
    "?tab=webhooks",
    "?tab=usage",
]


@pytest.mark.parametrize("tab", TABS, ids=["repositories", *(t[5:] for t in TABS[1:])])
def test_a_project_page_by_keyboard(
    project: str, admin_state: StorageState, open_page: OpenPage, tab: str
) -> None:
    page = open_page(storage_state=admin_state)
    visit(page, f"#/projects/{project}{tab}")
    expect(page.get_by_role("heading", name=project, level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
    page.wait_for_load_state("networkidle")
    seen = every_control_reached_with_visible_focus(page)
    names = {s["text"] for s in seen}
    tabs = {"Repositories", "Members", "Robot accounts", "Policies", "Supply chain", "Webhooks"}
    assert tabs | {"Usage"} <= names


def test_the_skip_link_leads_to_the_content(
    project: str, admin_state: StorageState, open_page: OpenPage
) -> None:
    page = open_page(storage_state=admin_state)
    visit(page, f"#/projects/{project}?tab=members")
    expect(page.get_by_role("form", name="Add a member")).to_be_visible()
    address = page.url
    tab_to(page, lambda f: f["text"] == "Skip to content")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.url == address  # the same page, not a page named "main"
    expect(page.get_by_role("form", name="Add a member")).to_be_visible()
    page.keyboard.press("Tab")  # on into the content, past the header
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_adding_a_member_with_keys_only(
    project: str, admin_state: StorageState, open_page: OpenPage
) -> None:
    page = open_page(storage_state=admin_state)
    visit(page, f"#/projects/{project}")
    expect(page.get_by_role("link", name=f"{project}/api")).to_be_visible()
    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Members")
    page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Add a member")
    expect(form).to_be_visible()
    tab_to(page, lambda f: f["tag"] == "input" and f["text"].startswith("Name"))
    page.keyboard.type("lee")
    page.keyboard.press("Enter")  # submits the form; the role stays developer
    expect(page.get_by_role("status")).to_have_text("lee added as developer")
    expect(page.get_by_role("row").filter(has_text="lee")).to_be_visible()
