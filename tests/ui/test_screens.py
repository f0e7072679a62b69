"""Every main page, at desktop (1280x800) and phone (390x844) width, over a registry
with content (projects, members, robots, a signed multi-platform image scanned, an
older one, the jobs that made them): each page must render without a problem (the
watch), is saved as a screenshot ($DOCKYARD_UI_SCREENSHOTS, or build/ui-screenshots/
at the repository's root), must pass axe-core's WCAG 2.1 A and AA rules (contrast,
names, labels, landmarks), and at phone width must not scroll sideways."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, StorageState, expect

from tests.support.oci_layout import build_image
from tests.support.tools import Skopeo, require_binary
from tests.ui.conftest import OpenPage, Ui
from tests.ui.support import (
    DEBIAN_SUMMARY,
    DESKTOP,
    VIEWPORTS,
    accessibility_problems,
    artifact_path,
    horizontal_overflow,
    load_axe,
    ok,
    scannable_index,
    shoot,
    sign,
    sign_in,
    visit,
    wait_job,
    wait_report,
)

PROJECT = "shipyard"
REPO = "web"


@dataclass(frozen=True)
class Content:
    index: str
    amd64: str
    old: str


@pytest.fixture(scope="module")
def content(ui: Ui, tmp_path_factory: pytest.TempPathFactory) -> Content:
    """What a registry in use holds, made through the API and skopeo."""
    require_binary("skopeo")
    ui.user("dana", "dana-password-1", email="dana@example.org")
    ui.user("lee", "lee-password-1", email="lee@example.org")
    with ui.api() as api:
        quota = 2 * 1024**3
        ok(api.post("/projects", json={"name": PROJECT, "public": False, "quota_bytes": quota}))
        ok(api.post("/projects", json={"name": "tools", "public": True}))
        ok(api.post("/projects", json={"name": "payments", "public": False}))
        for member in (
            {"kind": "user", "name": "dana", "role": "developer"},
            {"kind": "user", "name": "lee", "role": "maintainer"},
            {"kind": "group", "name": "platform-team", "role": "guest"},
        ):
            ok(api.post(f"/projects/{PROJECT}/members", json=member))
        for name, actions, description in (
            ("ci", ["pull", "push"], "the release pipeline"),
            ("scanner", ["pull", "scan"], "nightly rescans"),
        ):
            robot = {
                "name": name,
                "description": description,
                "permissions": [{"project": PROJECT, "repositories": [], "actions": actions}],
            }
            ok(api.post(f"/projects/{PROJECT}/robots", json=robot))
    work = tmp_path_factory.mktemp("screens")
    skopeo = Skopeo(ui.hostport, workdir=work, credentials=ui.server.admin)
    old = build_image(work / "old", "1.3.0", seed="screens-old")
    skopeo.push_oci(work / "old", "1.3.0", f"{PROJECT}/{REPO}", "1.3.0")
    annotations = {
        "org.opencontainers.image.source": "https://git.example.org/shipyard/web",
        "org.opencontainers.image.revision": "4f1c2e9",
    }
    index = scannable_index(work / "multi", "1.4.0", seed="screens", annotations=annotations)
    digest = skopeo.push_oci(work / "multi", "1.4.0", f"{PROJECT}/{REPO}", "1.4.0", all_=True)
    skopeo.push_oci(work / "multi", "1.4.0", f"{PROJECT}/{REPO}", "latest", all_=True)
    with ui.registry() as registry:
        sign(registry, f"{PROJECT}/{REPO}", digest, ui.hostport, ui.key)
    skopeo.push_oci(work / "old", "1.3.0", f"{PROJECT}/tools/builder", "2025.11")
    with ui.api() as api:
        job = ok(api.post(artifact_path(PROJECT, REPO, digest) + "/scan"), 202)
        wait_job(api, job["job_id"])
        for child in index.children:
            report = wait_report(api, artifact_path(PROJECT, REPO, child.manifest_digest))
            assert report["summary"] == DEBIAN_SUMMARY
    amd64 = index.child("linux", "amd64").manifest_digest
    return Content(index=digest, amd64=amd64, old=old.manifest_digest)


@pytest.fixture(scope="module")
def admin_state(browser: Browser, ui: Ui) -> Iterator[StorageState]:
    context = browser.new_context(base_url=ui.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, *ui.server.admin)
    state = context.storage_state()
    context.close()
    yield state


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def caption(text: str, counted: bool = True) -> Callable[[Page, Content], Locator]:
    """A table's caption, with its count (a listing paged by id has none)."""
    pattern = rf"^{text} \(\d+\)" if counted else rf"^{text}$"
    return lambda page, _c: page.locator("caption", has_text=re.compile(pattern))


def dry_run(page: Page, _content: Content) -> Locator:
    expect(page.get_by_role("heading", name="Retention")).to_be_visible()
    form = page.get_by_role("form", name="Add a retention rule")
    form.get_by_label("Except tags").fill("sha256-*")
    form.get_by_label("Keep").select_option("most_recent")
    form.get_by_label("N", exact=True).fill("1")
    form.get_by_role("button", name="Dry run with this rule").click()
    return page.get_by_role("region", name="Dry run")


def platform_counts(page: Page, _content: Content) -> Locator:
    scans = page.get_by_role("table", name=re.compile("Scans of the platforms"))
    row = scans.get_by_role("row").filter(has_text="linux/amd64")
    return row.locator("[data-label='CRITICAL']").filter(has_text="1")


# name -> (address, what shows the page is complete); the address may name the digests
PAGES: dict[str, tuple[str, Callable[[Page, Content], Locator]]] = {
    "signin": ("#/login", lambda p, _c: p.get_by_role("button", name="Sign in")),
    "projects": ("#/", lambda p, _c: p.get_by_role("link", name=PROJECT)),
    "project-repositories": (
        f"#/projects/{PROJECT}",
        lambda p, _c: p.get_by_role("link", name=f"{PROJECT}/{REPO}"),
    ),
    "project-members": (
        f"#/projects/{PROJECT}?tab=members",
        lambda p, _c: p.get_by_role("row").filter(has_text="platform-team"),
    ),
    "project-robots": (
        f"#/projects/{PROJECT}?tab=robots",
        lambda p, _c: p.get_by_role("row").filter(has_text=f"robot${PROJECT}+scanner"),
    ),
    "project-policies-dry-run": (f"#/projects/{PROJECT}?tab=policies", dry_run),
    "project-supply-chain": (
        f"#/projects/{PROJECT}?tab=supplychain",
        lambda p, _c: p.get_by_role("form", name="Supply-chain policy"),
    ),
    "project-webhooks": (
        f"#/projects/{PROJECT}?tab=webhooks",
        lambda p, _c: p.get_by_role("form", name="New webhook"),
    ),
    "project-usage": (
        f"#/projects/{PROJECT}?tab=usage",
        lambda p, _c: p.get_by_text("Saved by deduplication"),
    ),
    "repository-tags": (
        f"#/projects/{PROJECT}/repositories/{REPO}",
        lambda p, _c: p.get_by_role("link", name="1.4.0", exact=True),
    ),
    "repository-artifacts": (
        f"#/projects/{PROJECT}/repositories/{REPO}?view=artifacts",
        lambda p, c: p.get_by_role("link", name=short(c.index)),
    ),
    "artifact-index": (
        f"#/projects/{PROJECT}/repositories/{REPO}/-/artifacts/{{index}}",
        platform_counts,
    ),
    "artifact-image": (
        f"#/projects/{PROJECT}/repositories/{REPO}/-/artifacts/{{amd64}}",
        lambda p, _c: p.get_by_role("cell", name=re.compile("GHSA-jfh8-c2jp-5v3q")),
    ),
    "admin-users": ("#/admin/users", lambda p, _c: p.get_by_role("row").filter(has_text="dana")),
    "admin-jobs": ("#/admin/jobs", lambda p, _c: p.get_by_text("supplychain.scan").first),
    "admin-schedules": ("#/admin/schedules", caption("Schedules")),
    "admin-audit": ("#/admin/audit", lambda p, _c: p.get_by_text("user/admin").first),
    "admin-gc": ("#/admin/gc", caption("Garbage collection")),
    "admin-replication": ("#/admin/replication", caption("Executions", counted=False)),
    "admin-registries": ("#/admin/registries", caption("Registry endpoints")),
    "admin-proxy": ("#/admin/proxy", caption("Proxy caches")),
    "admin-storage": ("#/admin/storage", lambda p, _c: p.get_by_text("Physical (each blob once)")),
    "admin-backups": ("#/admin/backups", caption("Snapshots")),
    "admin-settings": ("#/admin/settings", lambda p, _c: p.locator("pre.json")),
    "account": ("#/account", lambda p, _c: p.get_by_role("heading", name="admin")),
}


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_each_page_renders_fits_and_is_photographed(
    ui: Ui,
    content: Content,
    admin_state: StorageState,
    open_page: OpenPage,
    viewport: str,
    name: str,
) -> None:
    address, ready = PAGES[name]
    signed_in: Any = None if name == "signin" else admin_state
    page = open_page(VIEWPORTS[viewport], signed_in)
    load_axe(page)
    visit(page, address.format(index=content.index, amd64=content.amd64))
    complete = ready(page, content)
    alert = page.get_by_role("alert")
    expect(complete.or_(alert).first).to_be_visible()  # done, or an error: no long wait
    assert alert.count() == 0, f"{name} shows an error: {alert.first.inner_text()}"
    expect(complete).to_be_visible()
    page.wait_for_load_state("networkidle")
    shoot(page, f"{name}-{viewport}")
    problems = accessibility_problems(page)
    assert not problems, f"{name} at {viewport} width:\n" + "\n".join(problems)
    if viewport == "phone":
        too_wide = horizontal_overflow(page)
        assert not too_wide, f"{name} scrolls sideways at 390px: {too_wide}"
