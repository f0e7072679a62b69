"""The checked flow, in the browser, as a person does it, one step per test in order,
in one signed-in browser session: sign in as the administrator; create a project; add
a user (made through the API) as a member; create a robot account with push and pull,
read its secret from the page (shown once) and push a multi-platform image with
skopeo as that robot; sign it (cosign, tag form, with the key the policy trusts);
scan it with the artifact page's Scan now; see its platforms, its verified signature
and the scan's severity counts; set a retention policy in Policies, seeing the dry
run's result before applying it; delete a tag through the confirmation dialog; sign
out and see the sign-in form again.

A step that needs an earlier one's result skips when that one did not get there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.oci_layout import build_image
from tests.support.tools import Skopeo, require_binary
from tests.ui.conftest import TRUSTED_KEY_NAME, Ui, fail_on
from tests.ui.support import (
    DEBIAN_SUMMARY,
    DESKTOP,
    Watch,
    answer_next_dialog,
    artifact_path,
    ok,
    scannable_index,
    sign,
    sign_in,
    visit,
    wait_job,
    wait_report,
)

PROJECT = "payments"
REPO = "api"
MEMBER = ("dana", "dana-password-1")


@dataclass
class Flow:
    """The one browser session of the flow, and what its steps learn."""

    page: Page
    watch: Watch
    done: set[str] = field(default_factory=set)
    robot: tuple[str, str] | None = None
    index: Any = None
    children: dict[str, str] = field(default_factory=dict)  # platform -> digest
    old: str = ""  # the digest of the image pushed as 0.9

    def needs(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"an earlier step did not finish: {', '.join(missing)}")


@pytest.fixture(scope="module")
def flow(browser: Browser, ui: Ui) -> Iterator[Flow]:
    context = browser.new_context(base_url=ui.url, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    yield Flow(page, watch)
    context.close()


@pytest.fixture(autouse=True)
def _no_problems(flow: Flow, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    fail_on(flow.watch, request)


def test_sign_in_and_create_a_project(flow: Flow, ui: Ui) -> None:
    page = flow.page
    visit(page, "#/")  # not signed in: the sign-in form, coming back here after
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    sign_in(page, *ui.server.admin)
    page.get_by_role("button", name="New project").click()
    form = page.get_by_role("form", name="New project")
    form.get_by_label("Name").fill(PROJECT)
    form.get_by_label("Quota in MiB").fill("512")
    form.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name=PROJECT, level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"#/projects/{PROJECT}$"))
    expect(page.locator(".badge").first).to_have_text("private")
    expect(page.get_by_text("No repositories: push an image to create one.")).to_be_visible()
    with ui.api() as api:
        made = ok(api.get(f"/projects/{PROJECT}"))
    assert made["public"] is False and made["quota_bytes"] == 512 * 1024 * 1024
    flow.done.add("project")


def test_add_a_member(flow: Flow, ui: Ui) -> None:
    flow.needs("project")
    page = flow.page
    ui.user(*MEMBER, email="dana@example.org")
    page.get_by_role("link", name="Members").click()
    form = page.get_by_role("form", name="Add a member")
    form.get_by_label("Kind").select_option("user")
    form.get_by_label("Name").fill(MEMBER[0])
    form.get_by_label("Role").select_option("developer")
    form.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_have_text(f"{MEMBER[0]} added as developer")
    row = page.get_by_role("row").filter(has_text=MEMBER[0])
    expect(row.get_by_label(f"Role of {MEMBER[0]}")).to_have_value("developer")
    with ui.api() as api:
        members = ok(api.get(f"/projects/{PROJECT}/members"))
    assert {(m["name"], m["role"]) for m in members} >= {(MEMBER[0], "developer")}
    flow.done.add("member")


def test_a_robot_pushes_and_the_image_is_signed(
    flow: Flow, ui: Ui, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flow.needs("project")
    require_binary("skopeo")
    page = flow.page
    page.get_by_role("link", name="Robot accounts").click()
    form = page.get_by_role("form", name="New robot account")
    form.get_by_label("Name", exact=True).fill("ci")
    form.get_by_label("Description").fill("the release pipeline")
    expect(form.get_by_role("checkbox", name="pull")).to_be_checked()
    expect(form.get_by_role("checkbox", name="push")).to_be_checked()
    for other in ("delete", "create_tag", "delete_tag", "scan", "read_logs"):
        expect(form.get_by_role("checkbox", name=other, exact=True)).not_to_be_checked()
    form.get_by_role("button", name="Create robot account").click()
    robot = f"robot${PROJECT}+ci"
    secret_panel = page.locator(".secret")
    expect(secret_panel).to_contain_text(f"{robot}'s secret, shown once")
    secret = secret_panel.locator("code").first.inner_text()
    assert len(secret) >= 32, secret
    row = page.get_by_role("row").filter(has_text=robot)
    expect(row).to_contain_text("pull, push on all repositories")
    expect(row).to_contain_text("the release pipeline")
    page.reload()  # shown once: not after a reload
    expect(page.get_by_role("row").filter(has_text=robot)).to_be_visible()
    expect(page.locator(".secret")).to_have_count(0)
    flow.robot = (robot, secret)

    # skopeo, signed in as the robot with the secret the page showed
    work = tmp_path_factory.mktemp("flow")
    skopeo = Skopeo(ui.hostport, workdir=work, credentials=flow.robot)
    old = build_image(work / "old", "0.9", seed="flow-old")
    skopeo.push_oci(work / "old", "0.9", f"{PROJECT}/{REPO}", "0.9")
    index = scannable_index(work / "multi", "1.0", seed="flow-multi")
    pushed = skopeo.push_oci(work / "multi", "1.0", f"{PROJECT}/{REPO}", "1.0", all_=True)
    assert pushed == index.index_digest
    assert old.manifest_digest != pushed
    flow.index = index
    flow.old = old.manifest_digest
    flow.children = {"/".join(c.platform): c.manifest_digest for c in index.children}
    with ui.registry(flow.robot) as registry:
        sign(registry, f"{PROJECT}/{REPO}", index.index_digest, ui.hostport, ui.key)
    page.get_by_role("link", name="Repositories").click()
    expect(page.get_by_role("link", name=f"{PROJECT}/{REPO}")).to_be_visible()
    flow.done.add("pushed")


def test_the_artifact_page_scans_and_shows_platforms_signature_and_counts(
    flow: Flow, ui: Ui
) -> None:
    flow.needs("pushed")
    page = flow.page
    index = flow.index
    page.get_by_role("link", name=f"{PROJECT}/{REPO}").click()
    expect(page.get_by_role("heading", name=f"{PROJECT}/{REPO}", level=1)).to_be_visible()
    page.get_by_role("link", name="1.0", exact=True).click()
    short = index.index_digest.removeprefix("sha256:")[:12]
    expect(page.get_by_role("heading", name=f"{PROJECT}/{REPO}@{short}")).to_be_visible()
    expect(page.get_by_text(index.index_digest).first).to_be_visible()
    platforms = page.get_by_role("list", name="Platforms")
    for platform, digest in flow.children.items():
        expect(platforms.get_by_role("listitem").filter(has_text=platform)).to_contain_text(
            digest.removeprefix("sha256:")[:12]
        )
    expect(page.get_by_text(f"Signed by {TRUSTED_KEY_NAME}")).to_be_visible()
    expect(page.get_by_text(f"verified ({TRUSTED_KEY_NAME})")).to_be_visible()

    page.get_by_role("button", name="Scan now").click()
    queued = page.get_by_role("status").filter(has_text="Scan queued as job")
    expect(queued).to_be_visible()
    found = re.search(r"job (\d+)", queued.inner_text())
    assert found, queued.inner_text()
    with ui.api() as api:
        job = wait_job(api, int(found.group(1)))
        assert sorted(job["result"]["children"]) == sorted(flow.children.values())
        for digest in flow.children.values():
            report = wait_report(api, artifact_path(PROJECT, REPO, digest))
            assert report["summary"] == DEBIAN_SUMMARY
    # the index's page shows each platform's counts once the scans are done
    scans = page.get_by_role("table", name=re.compile("Scans of the platforms"))
    for platform in flow.children:
        row = scans.get_by_role("row").filter(has_text=platform)
        for severity, count in DEBIAN_SUMMARY.items():
            expect(row.locator(f"[data-label='{severity}']")).to_have_text(str(count))

    platforms.get_by_role("link", name="linux/amd64").click()
    child = flow.children["linux/amd64"]
    expect(
        page.get_by_role("heading", name=f"{PROJECT}/{REPO}@{child.removeprefix('sha256:')[:12]}")
    ).to_be_visible()
    counts = page.get_by_role("list", name="Findings by severity")
    for severity, count in DEBIAN_SUMMARY.items():
        expect(counts.get_by_text(f"{severity}: {count}")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("GHSA-jfh8-c2jp-5v3q"))).to_be_visible()
    # signed through the index that lists it
    expect(page.get_by_text(f"Signed by {TRUSTED_KEY_NAME}")).to_be_visible()
    # the SBOM the scan made
    page.get_by_role("button", name="View").click()
    expect(page.get_by_label("SBOM")).to_contain_text("pkg:maven/org.apache.logging.log4j")
    flow.done.add("scanned")


def test_a_retention_policy_is_dry_run_before_it_is_applied(flow: Flow, ui: Ui) -> None:
    flow.needs("pushed")
    page = flow.page
    visit(page, f"#/projects/{PROJECT}")
    page.get_by_role("link", name="Policies").click()
    expect(page.get_by_text("No retention policy: everything is kept.")).to_be_visible()
    form = page.get_by_role("form", name="Add a retention rule")
    expect(form.get_by_label("Repositories (globs)")).to_have_value(f"{PROJECT}/*")

    # the releases first: every 1.x kept, and with it its signature (cosign's tag)
    form.get_by_label("Tags", exact=True).fill("1.*")
    form.get_by_label("Keep").select_option("always")
    form.get_by_role("button", name="Dry run with this rule").click()
    dry = page.get_by_role("region", name="Dry run")
    removed = dry.get_by_role("table", name=re.compile("Would be removed"))
    kept = dry.get_by_role("table", name=re.compile("Kept"))
    expect(kept.get_by_role("row").filter(has_text="1.0")).to_contain_text("rule 1")
    expect(kept.get_by_role("row").filter(has_text=".sig")).to_contain_text("needed by kept")
    expect(removed.get_by_role("row").filter(has_text="0.9")).to_have_count(1)
    expect(removed.locator("caption")).to_contain_text("(1)")
    dry.get_by_role("button", name="Add another rule").click()
    expect(page.get_by_text("not saved yet")).to_be_visible()

    # then the most recent of the rest but the 0.x
    form.get_by_label("Tags", exact=True).fill("*")
    form.get_by_label("Except tags").fill("0.*")
    form.get_by_label("Keep").select_option("most_recent")
    form.get_by_label("N", exact=True).fill("1")
    form.get_by_role("button", name="Dry run with this rule").click()
    expect(removed.locator("caption")).to_contain_text("(1)")
    old_row = removed.get_by_role("row").filter(has_text="0.9")
    expect(old_row).to_contain_text("no rule keeps it")
    expect(kept.get_by_role("row").filter(has_text="1.0")).to_contain_text("rule 1")
    expect(kept.get_by_role("row").filter(has_text=".sig")).to_contain_text("needed by kept")
    with ui.api() as api:  # a dry run changes nothing
        assert ok(api.get(f"/projects/{PROJECT}/retention")) is None
        dry.get_by_role("button", name="Apply this policy").click()
        expect(page.get_by_role("status")).to_have_text(
            "Retention policy saved: the scheduled run applies it."
        )
        saved = ok(api.get(f"/projects/{PROJECT}/retention"))
    assert [(r["keep"], r["tags"], r["exclude_tags"]) for r in saved["rules"]] == [
        ("always", ["1.*"], []),
        ("most_recent", ["*"], ["0.*"]),
    ]
    rules = page.get_by_role("list", name="Retention rules")
    expect(rules.get_by_role("listitem")).to_have_count(2)
    expect(page.get_by_text("not saved yet")).to_have_count(0)
    flow.done.add("retention")


def test_a_tag_is_deleted_after_confirmation(flow: Flow, ui: Ui) -> None:
    flow.needs("pushed")
    page = flow.page
    visit(page, f"#/projects/{PROJECT}/repositories/{REPO}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="0.9", exact=True))
    expect(row).to_have_count(1)
    asked: list[str] = []
    answer_next_dialog(page, asked, accept=False)
    row.get_by_role("button", name="Delete tag 0.9").click()
    expect(row).to_have_count(1)  # cancelled: nothing happened
    assert asked == [
        f"Delete the tag {PROJECT}/{REPO}:0.9? The artifact stays, reachable by its digest."
    ]
    answer_next_dialog(page, asked)
    row.get_by_role("button", name="Delete tag 0.9").click()
    expect(page.get_by_role("status")).to_have_text("Tag 0.9 deleted.")
    expect(row).to_have_count(0)
    assert len(asked) == 2
    with ui.registry() as registry:
        tags = registry.get(f"/v2/{PROJECT}/{REPO}/tags/list").json()["tags"]
    assert "0.9" not in tags and "1.0" in tags
    flow.done.add("deleted")


def test_an_artifact_is_deleted_from_its_page(flow: Flow, ui: Ui) -> None:
    flow.needs("deleted")  # 0.9's image, untagged now
    page = flow.page
    visit(page, f"#/projects/{PROJECT}/repositories/{REPO}/-/artifacts/{flow.old}")
    expect(page.get_by_role("heading", name="Delete")).to_be_visible()
    asked: list[str] = []
    answer_next_dialog(page, asked)
    page.get_by_role("button", name="Delete this artifact").click()
    expect(page.get_by_role("status")).to_have_text(f"Artifact {flow.old} deleted.")
    assert asked == [f"Delete {PROJECT}/{REPO}@{flow.old}? This cannot be undone."]
    assert "view=artifacts" in page.url
    table = page.get_by_role("table", name="Artifacts")
    expect(table.get_by_role("link", name=flow.old.removeprefix("sha256:")[:12])).to_have_count(0)
    expect(
        table.get_by_role("link", name=flow.index.index_digest.removeprefix("sha256:")[:12])
    ).to_have_count(1)
    with ui.registry() as registry:
        assert registry.get(f"/v2/{PROJECT}/{REPO}/manifests/{flow.old}").status_code == 404


def test_sign_out(flow: Flow, ui: Ui, tmp_path: Path) -> None:
    flow.needs("project")
    page = flow.page
    visit(page, "#/")
    (cookie,) = [c["value"] for c in page.context.cookies() if c["name"] == "dockyard_session"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert not [c for c in page.context.cookies() if c["name"] == "dockyard_session"]
    # the session ended on the server: a copy of the cookie is refused
    with httpx.Client(base_url=ui.url, cookies={"dockyard_session": cookie}) as replay:
        assert replay.get("/api/v1/users/current").status_code == 401
    visit(page, f"#/projects/{PROJECT}")  # a bookmark: the sign-in form again
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
