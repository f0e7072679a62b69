"""The lists and the changes made in them: projects paged and searched by the server,
a repository's tags searched, sorted and paged, a member's role changed, a robot's
secret rotated (the old one stops working) and the robot revoked, each after the
browser's confirmation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, StorageState, expect

from dockyard.http.token import TOKEN_PATH
from tests.supplychain.helpers import OCI_MANIFEST, put_blob, put_manifest
from tests.support import images
from tests.ui.conftest import OpenPage, Ui
from tests.ui.support import DESKTOP, Watch, ok, sign_in, visit, wait_for

PROJECT = "fleet"
TAGS = 60  # more than a page of tags (50)


@pytest.fixture(scope="module")
def fleet(ui: Ui) -> str:
    with ui.api() as api:
        for n in range(30):  # more than a page of projects (25)
            ok(api.post("/projects", json={"name": f"bulk-{n:02d}", "public": False}))
        ok(api.post("/projects", json={"name": PROJECT, "public": False}))
    ui.user("sam", "sam-password-1")
    with ui.api() as api:
        member = {"kind": "user", "name": "sam", "role": "developer"}
        ok(api.post(f"/projects/{PROJECT}/members", json=member))
    built = images.image([images.layer({"etc/motd": b"fleet"})])
    with ui.registry() as registry:
        for blob in built.blobs.values():
            put_blob(registry, f"{PROJECT}/app", blob)
        for n in range(TAGS):  # one image under many tags, v000 the oldest
            put_manifest(registry, f"{PROJECT}/app", f"v{n:03d}", built.manifest, OCI_MANIFEST)
    return PROJECT


@pytest.fixture(scope="module")
def admin_state(browser: Browser, ui: Ui) -> Iterator[StorageState]:
    context = browser.new_context(base_url=ui.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, *ui.server.admin)
    state = context.storage_state()
    context.close()
    yield state


@pytest.fixture
def admin_page(open_page: OpenPage, admin_state: StorageState) -> Page:
    return open_page(storage_state=admin_state)


def test_projects_are_paged_and_searched_by_the_server(fleet: str, admin_page: Page) -> None:
    page = admin_page
    visit(page, "#/")
    table = page.get_by_role("table", name=re.compile("Projects"))
    expect(table.locator("caption")).to_contain_text("(31)")
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text("Page 1 of 2")
    expect(table.locator("tbody tr")).to_have_count(25)
    expect(pager.get_by_role("button", name="Previous")).to_be_disabled()
    pager.get_by_role("button", name="Next").click()
    expect(pager).to_contain_text("Page 2 of 2")
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(pager.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_label("Search projects").fill("bulk-1")
    expect(table.locator("caption")).to_contain_text("(10)")
    expect(pager).to_have_count(0)  # one page: no pager
    expect(table.get_by_role("link", name="bulk-12")).to_be_visible()


def test_tags_are_searched_sorted_and_paged(fleet: str, admin_page: Page) -> None:
    page = admin_page
    visit(page, f"#/projects/{fleet}/repositories/app")
    table = page.get_by_role("table", name=re.compile("Tags"))
    expect(table.locator("caption")).to_contain_text(f"({TAGS})")
    expect(table.locator("tbody tr")).to_have_count(50)
    # newest first by default; by name, ascending then descending
    table.get_by_role("button", name=re.compile(r"^Tag(?!ged)")).click()
    expect(table.locator("tbody tr").first).to_contain_text("v000")
    expect(table.get_by_role("columnheader", name=re.compile(r"^Tag(?!ged)"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    table.get_by_role("button", name=re.compile(r"^Tag(?!ged)")).click()
    expect(table.locator("tbody tr").first).to_contain_text(f"v{TAGS - 1:03d}")
    pager = page.get_by_role("navigation", name="Pages")
    pager.get_by_role("button", name="Last").click()
    expect(pager).to_contain_text("Page 2 of 2")
    expect(table.locator("tbody tr")).to_have_count(TAGS - 50)
    expect(table.locator("tbody tr").last).to_contain_text("v000")
    page.get_by_label("Search tags").fill("v05")
    expect(table.locator("caption")).to_contain_text("(10)")
    expect(table.get_by_role("link", name="v057", exact=True)).to_be_visible()


def test_a_members_role_is_changed(fleet: str, ui: Ui, admin_page: Page) -> None:
    page = admin_page
    visit(page, f"#/projects/{fleet}?tab=members")
    role = page.get_by_label("Role of sam")
    expect(role).to_have_value("developer")
    role.select_option("maintainer")
    expect(page.get_by_role("status")).to_have_text("sam is now maintainer")
    with ui.api() as api:
        members = ok(api.get(f"/projects/{fleet}/members"))
    assert {m["name"]: m["role"] for m in members}["sam"] == "maintainer"
    expect(page.get_by_label("Role of sam")).to_have_value("maintainer")


def test_a_robots_secret_is_rotated_then_the_robot_revoked(
    fleet: str, ui: Ui, admin_page: Page
) -> None:
    page = admin_page
    visit(page, f"#/projects/{fleet}?tab=robots")
    form = page.get_by_role("form", name="New robot account")
    form.get_by_label("Name", exact=True).fill("deploy")
    form.get_by_role("button", name="Create robot account").click()
    robot = f"robot${fleet}+deploy"
    first = page.locator(".secret code").first.inner_text()
    with ui.registry((robot, first)) as registry:
        assert registry.get(f"/v2/{fleet}/app/tags/list").status_code == 200

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name=f"Rotate secret of {robot}").click()
    expect(page.locator(".secret code").first).not_to_have_text(first)
    second = page.locator(".secret code").first.inner_text()
    assert asked == [f"Rotate the secret of {robot}? The old one stops working at once."]
    token = httpx.get(ui.url + TOKEN_PATH, auth=(robot, first))
    assert token.status_code == 401, token.text  # the old secret no longer works
    assert httpx.get(ui.url + TOKEN_PATH, auth=(robot, second)).status_code == 200
    with ui.registry((robot, second)) as registry:
        assert registry.get(f"/v2/{fleet}/app/tags/list").status_code == 200

    page.get_by_role("button", name=f"Revoke {robot}").click()
    expect(page.get_by_role("row").filter(has_text=robot)).to_have_count(0)
    assert asked[-1] == f"Revoke {robot}? It is deleted and cannot sign in again."
    with ui.api() as api:
        robots = ok(api.get(f"/projects/{fleet}/robots"))
    assert robot not in [r["name"] for r in robots]
    assert json.dumps(robots).count(second) == 0


def test_a_schedule_is_switched_off_and_on(ui: Ui, admin_page: Page) -> None:
    page = admin_page
    visit(page, "#/admin/schedules")
    with ui.api() as api:
        name = ok(api.get("/schedules"))[0]["name"]
    row = page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))
    row.get_by_role("button", name="yes: disable").click()
    expect(row.get_by_role("button", name="no: enable")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"Schedule {name} disabled.")
    with ui.api() as api:
        assert {s["name"]: s["enabled"] for s in ok(api.get("/schedules"))}[name] is False
    row.get_by_role("button", name="no: enable").click()
    expect(row.get_by_role("button", name="yes: disable")).to_be_visible()


def test_a_garbage_collection_dry_run_is_queued(ui: Ui, admin_page: Page) -> None:
    page = admin_page
    visit(page, "#/admin/gc")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_role("status")).to_have_text("Dry run queued.")
    with ui.api() as api:  # the run is listed once its job has started it

        def dry_run_listed() -> bool:
            return any(r["dry_run"] for r in ok(api.get("/gc")))

        wait_for("the dry run to be listed", dry_run_listed)
    page.reload()
    table = page.get_by_role("table", name=re.compile("Garbage collection"))
    expect(table.locator("tbody tr").first.locator("[data-label='Dry run']")).to_have_text("yes")


def test_a_refused_schedule_change_says_why(ui: Ui, open_page: OpenPage, watch: Watch) -> None:
    """An administrator whose rights are taken away while the page is open: the
    toggle's refusal is shown with the server's words, and nothing changes."""
    name, password = ui.user("sched-admin", "sched-admin-password", is_admin=True)
    page = open_page()
    sign_in(page, name, password)
    visit(page, "#/admin/schedules")
    with ui.api() as api:
        schedule = ok(api.get("/schedules"))[0]
        ok(api.patch(f"/users/{name}", json={"is_admin": False}))
    row = page.get_by_role("row").filter(has=page.get_by_text(schedule["name"], exact=True))
    label = "yes: disable" if schedule["enabled"] else "no: enable"
    watch.allow(403)
    row.get_by_role("button", name=label).click()
    expect(page.get_by_role("alert")).to_contain_text("administrator")
    with ui.api() as api:
        now = {s["name"]: s["enabled"] for s in ok(api.get("/schedules"))}
    assert now[schedule["name"]] is schedule["enabled"]
