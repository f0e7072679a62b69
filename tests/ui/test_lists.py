"""The lists and the changes made in them: projects paged and searched by the server,
a repository's tags searched, sorted and paged, a member's role changed, a robot's
secret rotated (the old one stops working) and the robot revoked, each after the
browser's confirmation; a column header (clicked, or pressed with the keyboard)
sorting projects, artifacts, robot accounts, users and the audit log by the server,
the order and page kept in the address across a reload; searches narrowing them; jobs
paged by id."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, StorageState, expect

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
    # the change's own refusal, not hidden by the reload after it (refused too)
    alerts = page.get_by_role("alert")
    expect(alerts.filter(has_text="may change schedules")).to_be_visible()
    expect(alerts.filter(has_text="may list schedules")).to_be_visible()
    with ui.api() as api:
        now = {s["name"]: s["enabled"] for s in ok(api.get("/schedules"))}
    assert now[schedule["name"]] is schedule["enabled"]


def _header(table: Locator, name: str) -> Locator:
    return table.get_by_role("columnheader", name=name, exact=True)


def _sort_by(table: Locator, name: str) -> None:
    table.get_by_role("button", name=name, exact=True).click()


def test_projects_sorted_by_a_column_kept_in_the_address(fleet: str, admin_page: Page) -> None:
    page = admin_page
    visit(page, "#/")
    table = page.get_by_role("table", name=re.compile("Projects"))
    rows = table.locator("tbody tr")
    expect(_header(table, "Project")).to_have_attribute("aria-sort", "ascending")
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "none")
    _sort_by(table, "Created")
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "ascending")
    expect(_header(table, "Project")).to_have_attribute("aria-sort", "none")
    expect(rows.first).to_contain_text("bulk-00")  # the oldest
    # the header is a button: the keyboard sorts too, the other way the second time
    table.get_by_role("button", name="Created", exact=True).focus()
    page.keyboard.press("Enter")
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text(fleet)  # made last
    expect(page).to_have_url(re.compile(r"#/\?sort=-created$"))
    page.get_by_role("navigation", name="Pages").get_by_role("button", name="Next").click()
    expect(rows).to_have_count(6)
    expect(rows.last).to_contain_text("bulk-00")
    expect(page).to_have_url(re.compile(r"#/\?page=2&sort=-created$"))
    page.reload()  # a bookmark of this page: the same page of the same order
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "descending")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 2 of 2")
    expect(rows.last).to_contain_text("bulk-00")
    page.get_by_label("Search projects").fill("bulk-2")
    expect(table.locator("caption")).to_contain_text("(10)")
    expect(rows.first).to_contain_text("bulk-29")  # still newest first, from page 1
    expect(page).to_have_url(re.compile(r"#/\?sort=-created&q=bulk-2$"))


@pytest.fixture(scope="module")
def sized(ui: Ui, fleet: str) -> dict[str, str]:
    """Three images of different sizes in fleet/multi, pushed small, large, medium."""
    pushed = {}
    with ui.registry() as registry:
        for tag, size in (("small", 10), ("large", 20_000), ("medium", 5_000)):
            built = images.image([images.layer({"data": os.urandom(size)})])
            for blob in built.blobs.values():
                put_blob(registry, f"{fleet}/multi", blob)
            put_manifest(registry, f"{fleet}/multi", tag, built.manifest, OCI_MANIFEST)
            pushed[tag] = built.digest
    return pushed


def test_artifacts_sorted_and_searched(fleet: str, sized: dict[str, str], admin_page: Page) -> None:
    page = admin_page
    visit(page, f"#/projects/{fleet}/repositories/multi?view=artifacts")
    table = page.get_by_role("table", name=re.compile("Artifacts"))
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(_header(table, "Pushed")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("medium")  # the newest
    _sort_by(table, "Size")
    expect(_header(table, "Size")).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_contain_text("small")
    expect(rows.last).to_contain_text("large")
    _sort_by(table, "Size")
    expect(_header(table, "Size")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("large")
    expect(page).to_have_url(re.compile(r"\?view=artifacts&sort=-size$"))
    _sort_by(table, "Pushed")
    expect(rows.first).to_contain_text("small")  # the oldest
    search = page.get_by_label("Search by tag or digest")
    search.fill("larg")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("large")
    expect(table.locator("caption")).to_contain_text("(1)")
    search.fill(sized["medium"].removeprefix("sha256:")[:10])  # the start of a digest
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("medium")


def test_robot_accounts_searched_and_sorted(fleet: str, ui: Ui, admin_page: Page) -> None:
    with ui.api() as api:
        for short in ("lists-a", "lists-b", "other-c"):
            grant = [{"project": fleet, "actions": ["pull"]}]
            ok(api.post(f"/projects/{fleet}/robots", json={"name": short, "permissions": grant}))
    page = admin_page
    visit(page, f"#/projects/{fleet}?tab=robots")
    table = page.get_by_role("table", name=re.compile("Robot accounts"))
    rows = table.locator("tbody tr")
    page.get_by_label("Search robot accounts").fill("lists-")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"robot${fleet}+lists-a")
    _sort_by(table, "Robot")  # by name already: now the other way
    expect(_header(table, "Robot")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text(f"robot${fleet}+lists-b")
    expect(page).to_have_url(re.compile(r"\?tab=robots&sort=-name&q=lists-$"))
    page.reload()
    expect(page.get_by_label("Search robot accounts")).to_have_value("lists-")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"robot${fleet}+lists-b")


def test_users_and_the_audit_log_sorted_in_administration(
    fleet: str, ui: Ui, admin_page: Page
) -> None:
    ui.user("zoe", "zoe-password-1")  # the newest user
    page = admin_page
    visit(page, "#/admin/users")
    table = page.get_by_role("table", name=re.compile("Users"))
    rows = table.locator("tbody tr")
    expect(rows.first).to_contain_text("admin")  # by name
    _sort_by(table, "Created")
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "ascending")
    _sort_by(table, "Created")
    expect(_header(table, "Created")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("zoe")
    page.get_by_label("Search users").fill("sa")
    expect(table.locator("caption")).to_contain_text("(1)")
    expect(rows.first).to_contain_text("sam")

    with ui.api() as api:
        oldest = ok(api.get("/audit-logs", params={"sort": "at", "page_size": 1}))[0]
    visit(page, "#/admin/audit")
    table = page.get_by_role("table", name=re.compile("Audit log"))
    expect(_header(table, "When")).to_have_attribute("aria-sort", "descending")
    _sort_by(table, "When")
    expect(_header(table, "When")).to_have_attribute("aria-sort", "ascending")
    first = table.locator("tbody tr").first
    expect(first.locator("[data-label='Action']")).to_have_text(oldest["action"])
    expect(first.locator("[data-label='Resource']")).to_have_text(oldest["resource"])


def test_jobs_are_paged_by_id(ui: Ui, admin_page: Page) -> None:
    """Thirty jobs of a kind of their own, written into the database (cancelled: no
    worker takes them): 25 a page, the next page from the server's Link, back again,
    then oldest first."""
    kind = "test.paging"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(ui.server.data_dir / "dockyard.db", timeout=30)
    with db:
        db.executemany(
            "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, rerun, "
            "cancel_requested, run_after, created_at, finished_at) "
            "VALUES (?, '{}', 'cancelled', 0, 1, 0, 0, ?, ?, ?)",
            [(kind, now, now, now)] * 30,
        )
    db.close()
    with ui.api() as api:
        ids = [j["id"] for j in ok(api.get("/jobs", params={"kind": kind, "limit": 100}))]
    assert len(ids) == 30
    page = admin_page
    visit(page, "#/admin/jobs")
    page.get_by_role("form", name="Filters").get_by_label("Kind").fill(kind)
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("table", name=re.compile("Jobs"))
    rows = table.locator("tbody tr")
    pager = page.get_by_role("navigation", name="Pages")
    expect(rows).to_have_count(25)
    expect(rows.first.locator("[data-label='Job']")).to_have_text(str(ids[0]))  # the newest
    expect(pager.get_by_role("button", name="Previous")).to_be_disabled()
    pager.get_by_role("button", name="Next").click()
    expect(rows).to_have_count(5)
    expect(pager).to_contain_text("Page 2")
    expect(pager.get_by_role("button", name="Next")).to_be_disabled()
    expect(rows.last.locator("[data-label='Job']")).to_have_text(str(ids[-1]))
    pager.get_by_role("button", name="Previous").click()
    expect(rows).to_have_count(25)
    expect(rows.first.locator("[data-label='Job']")).to_have_text(str(ids[0]))
    _sort_by(table, "Queued")
    expect(_header(table, "Queued")).to_have_attribute("aria-sort", "ascending")
    expect(rows.first.locator("[data-label='Job']")).to_have_text(str(ids[-1]))  # the oldest
    expect(pager).to_contain_text("Page 1")


def test_a_refused_creation_says_why_and_keeps_what_was_typed(
    ui: Ui, admin_page: Page, watch: Watch
) -> None:
    """The listing reloads after every change; a reload that works must not hide the
    change's refusal, and the form keeps what the person typed."""
    ui.user("taken-name", "taken-password-1")
    page = admin_page
    visit(page, "#/admin/users")
    form = page.get_by_role("form", name="New local user")
    form.get_by_label("Username").fill("taken-name")
    form.get_by_label("Password").fill("another-password-1")
    watch.allow(409)
    form.get_by_role("button", name="New local user").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    expect(form.get_by_label("Username")).to_have_value("taken-name")

    form.get_by_label("Username").fill("fresh-name")
    form.get_by_role("button", name="New local user").click()
    expect(page.get_by_role("status")).to_have_text("User fresh-name created.")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(form.get_by_label("Username")).to_have_value("")
