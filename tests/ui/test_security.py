"""The UI's defences, seen from a real browser against a real server: the page's
headers (the CSP exactly, nosniff, no framing) and what they make the browser refuse;
the session cookie's flags (and Secure behind an https public URL); the CSRF header
that every cookie-authenticated change and the sign-in itself must carry; output
escaping wherever a user's text is shown; and a signed-in user who is not a member of
a private project seeing only the API's refusal, never its data, on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, StorageState, expect

from tests.support.oci_layout import build_image
from tests.support.server import run_server
from tests.support.tools import Skopeo, require_binary
from tests.ui.conftest import OpenPage, Ui
from tests.ui.support import (
    DESKTOP,
    XSS,
    XSS_EMAIL,
    Watch,
    artifact_path,
    no_xss,
    ok,
    sign_in,
    visit,
    wait_for,
)

# exactly what serve.py sends: a change to it is a change to this test, on purpose
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types lit-html"
)
CSRF = {"X-Requested-With": "dockyard-ui"}
SESSION = "dockyard_session"
VAULT = "vault"  # the private project the outsider must not see into
SECRETS = ("classified-1", "vaultbot", "vault-team", "the vault's robot")
OUTSIDER = ("outsider", "outsider-password-1")
GUEST = {"kind": "group", "role": "guest"}


@pytest.fixture(scope="module")
def seeded(ui: Ui, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A private project with a repository, a robot, members and an image carrying
    HTML in its annotations; a user whose email is HTML; a failed sign-in whose
    username is HTML (the audit log shows it); and a user who is no member of it."""
    require_binary("skopeo")
    ui.user(*OUTSIDER)
    ui.user("mallory", "mallory-password-1", email=XSS_EMAIL)
    with ui.api() as api:
        ok(api.post("/projects", json={"name": VAULT, "public": False}))
        ok(api.post(f"/projects/{VAULT}/members", json={**GUEST, "name": "vault-team"}))
        ok(api.post(f"/projects/{VAULT}/members", json={**GUEST, "name": XSS}))
        member = {"kind": "user", "name": "mallory", "role": "developer"}
        ok(api.post(f"/projects/{VAULT}/members", json=member))
        robot = {
            "name": "vaultbot",
            "description": "the vault's robot",
            "permissions": [{"project": VAULT, "repositories": [], "actions": ["pull"]}],
        }
        ok(api.post(f"/projects/{VAULT}/robots", json=robot))
        ok(api.post(f"/projects/{VAULT}/robots", json={**robot, "name": "x", "description": XSS}))
    refused = httpx.post(
        ui.url + "/auth/login", json={"username": XSS, "password": "wrong"}, headers=CSRF
    )
    assert refused.status_code == 401, refused.text
    work = tmp_path_factory.mktemp("security")
    image = build_image(
        work / "oci",
        "classified-1",
        seed="security",
        annotations={"org.opencontainers.image.description": XSS, "org.example.note": "plain"},
    )
    skopeo = Skopeo(ui.hostport, workdir=work, credentials=ui.server.admin)
    digest = skopeo.push_oci(work / "oci", "classified-1", f"{VAULT}/app", "classified-1")
    assert digest == image.manifest_digest
    return {"digest": digest}


@pytest.fixture(scope="module")
def outsider_state(browser: Browser, ui: Ui, seeded: dict[str, Any]) -> Iterator[StorageState]:
    """The outsider, signed in once through the form: their browser's cookies."""
    context = browser.new_context(base_url=ui.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, *OUTSIDER)
    state = context.storage_state()
    context.close()
    yield state


# --- headers --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ui/index.html", "/ui/js/app.js", "/ui/style.css"])
def test_served_files_carry_the_security_headers(ui: Ui, path: str) -> None:
    r = httpx.get(ui.url + path)
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"].split("; ")


def test_the_browser_enforces_the_policy(ui: Ui, page: Page, watch: Watch) -> None:
    response = page.goto("/")
    assert response is not None
    assert response.header_value("content-security-policy") == CSP
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    # what the page's own code could be tricked into: each sink is refused
    watch.allow_console(r"requires 'Trusted(HTML|Script)' assignment")
    watch.allow_console(r"TrustedTypePolicy named 'mine'")
    refused = page.evaluate(
        """() => {
          const out = {};
          try { document.body.insertAdjacentHTML('beforeend', '<b id=injected>x</b>');
                out.html = 'ran'; }
          catch (e) { out.html = e.name; }
          try { const s = document.createElement('script'); s.textContent = 'window.__xss = 1';
                document.body.append(s); out.script = 'ran'; }
          catch (e) { out.script = e.name; }
          try { const i = document.createElement('img');
                i.setAttribute('onerror', 'window.__xss = 1'); i.src = 'x';
                document.body.append(i); out.handler = 'appended'; }
          catch (e) { out.handler = e.name; }
          // only lit-html's policy may turn strings into markup: no other can be made
          try { trustedTypes.createPolicy('mine', { createHTML: (s) => s }); out.policy = 'made'; }
          catch (e) { out.policy = e.name; }
          return out;
        }"""
    )
    assert refused == dict.fromkeys(("html", "script", "handler", "policy"), "TypeError")
    assert page.locator("#injected").count() == 0
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_no_other_site_can_frame_the_ui(ui: Ui, page: Page, watch: Watch) -> None:
    watch.allow_console(r"frame-ancestors|Refused to (display|frame)")
    page.goto("about:blank")  # another origin than the UI's
    page.set_content(f'<iframe name="ui" src="{ui.url}/#/login"></iframe>')
    frame = page.frame(name="ui")
    assert frame is not None
    # frame-ancestors 'none' (and X-Frame-Options): chromium shows its error page
    wait_for("the frame to be refused", lambda: frame.url.startswith("chrome-error://"), 15)
    expect(page.frame_locator("iframe").get_by_text("Sign in to Dockyard")).to_have_count(0)


# --- the session cookie and CSRF --------------------------------------------------------


def test_the_session_cookie_is_http_only_and_same_site_strict(ui: Ui, page: Page) -> None:
    sign_in(page, *ui.server.admin)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["secure"] is False  # plain http, no https public URL
    assert session["path"] == "/"
    assert SESSION not in page.evaluate("document.cookie")  # no script reads it


def test_the_session_cookie_is_secure_behind_an_https_public_url(
    tmp_path: Path,
) -> None:
    env = {"DOCKYARD__SERVER__PUBLIC_URL": "https://registry.example.test"}
    with run_server(tmp_path / "data", workers=1, env=env) as server:
        signed = httpx.post(
            server.url + "/auth/login",
            json={"username": server.admin[0], "password": server.admin[1]},
            headers={**CSRF, "Host": "registry.example.test"},
        )
    assert signed.status_code == 200, signed.text
    attributes = [a.strip().lower() for a in signed.headers["set-cookie"].split(";")]
    assert attributes[0].startswith(f"{SESSION}=")
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(attributes)


FETCH = """async ([method, path, body, headers]) => {
  const init = { method, credentials: 'same-origin',
                 headers: { 'Content-Type': 'application/json', ...headers } };
  if (body !== null) init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  return [r.status, await r.text()];
}"""


def test_a_change_with_the_cookie_but_no_csrf_header_is_refused(
    ui: Ui, page: Page, watch: Watch
) -> None:
    sign_in(page, *ui.server.admin)
    watch.allow(403)
    body = {"name": "csrf-probe", "public": False}
    status, text = page.evaluate(FETCH, ["POST", "/api/v1/projects", body, {}])
    assert status == 403, text
    assert "x-requested-with" in text
    with ui.api() as api:
        assert api.get("/projects/csrf-probe").status_code == 404  # nothing made
        ok(api.post("/projects", json={"name": "csrf-kept", "public": False}))
    status, text = page.evaluate(FETCH, ["DELETE", "/api/v1/projects/csrf-kept", None, {}])
    assert status == 403, text
    # the same cookie with the header: it is the header that was missing
    status, text = page.evaluate(FETCH, ["POST", "/api/v1/projects", body, CSRF])
    assert status == 201, text
    # reading needs no header
    status, text = page.evaluate(FETCH, ["GET", "/api/v1/projects/csrf-kept", None, {}])
    assert status == 200, text


def test_the_cookie_alone_changes_nothing_outside_the_browser(ui: Ui) -> None:
    with httpx.Client(base_url=ui.url) as c:
        signed = c.post(
            "/auth/login",
            json={"username": ui.server.admin[0], "password": ui.server.admin[1]},
            headers=CSRF,
        )
        assert signed.status_code == 200 and SESSION in c.cookies
        refused = c.post("/api/v1/projects", json={"name": "cookie-only"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "DENIED"


def test_sign_in_without_the_csrf_header_is_refused(ui: Ui) -> None:
    creds = {"username": ui.server.admin[0], "password": ui.server.admin[1]}
    refused = httpx.post(ui.url + "/auth/login", json=creds)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["code"] == "DENIED"
    assert "set-cookie" not in refused.headers
    # a cross-site form posts urlencoded, with no custom header: refused the same way
    form = httpx.post(ui.url + "/auth/login", data=creds)
    assert form.status_code == 403 and "set-cookie" not in form.headers


def test_sign_in_goes_only_to_a_page_of_the_ui(ui: Ui, page: Page) -> None:
    page.goto("/#/login?next=" + "https%3A%2F%2Fevil.example%2F")
    page.get_by_label("Username").fill(ui.server.admin[0])
    page.get_by_label("Password").fill(ui.server.admin[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    assert page.url.startswith(ui.url)


# --- output escaping --------------------------------------------------------------------


def shows_literally(page: Page, text: str) -> None:
    expect(page.get_by_text(text, exact=False).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    no_xss(page)


@pytest.mark.parametrize(
    ("where", "text"),
    [
        pytest.param(f"#/projects/{VAULT}?tab=robots", XSS, id="robot-description"),
        pytest.param(f"#/projects/{VAULT}?tab=members", XSS, id="group-name"),
        pytest.param("#/admin/users", XSS_EMAIL, id="user-email"),
        # a failed sign-in's username, as the audit log has it
        pytest.param("#/admin/audit", XSS, id="audit-actor"),
    ],
)
def test_html_a_user_wrote_is_shown_as_text(
    ui: Ui, seeded: dict[str, Any], page: Page, where: str, text: str
) -> None:
    sign_in(page, *ui.server.admin)
    visit(page, where)
    shows_literally(page, text)


def test_html_in_ones_own_email_is_text_on_the_account_page(
    ui: Ui, seeded: dict[str, Any], page: Page
) -> None:
    sign_in(page, "mallory", ui.users["mallory"])
    visit(page, "#/account")
    expect(page.get_by_role("heading", name="mallory")).to_be_visible()
    shows_literally(page, XSS_EMAIL)


def test_html_in_an_images_annotations_is_text_on_its_page(
    ui: Ui, seeded: dict[str, Any], page: Page
) -> None:
    sign_in(page, *ui.server.admin)
    visit(page, f"#/projects/{VAULT}/repositories/app/-/artifacts/{seeded['digest']}")
    expect(page.get_by_role("heading", name="Annotations")).to_be_visible()
    expect(page.get_by_text("org.opencontainers.image.description")).to_be_visible()
    shows_literally(page, XSS)


def test_html_in_the_address_is_text(ui: Ui, page: Page) -> None:
    sign_in(page, *ui.server.admin)
    visit(page, "#/nowhere" + XSS)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No page at /nowhere")
    no_xss(page)


# --- a user who is not a member ---------------------------------------------------------

# page -> the API request it makes first (what the outsider is refused)
PRIVATE_PAGES = {
    "project": (f"#/projects/{VAULT}", f"/projects/{VAULT}"),
    "members": (f"#/projects/{VAULT}?tab=members", f"/projects/{VAULT}"),
    "robots": (f"#/projects/{VAULT}?tab=robots", f"/projects/{VAULT}"),
    "policies": (f"#/projects/{VAULT}?tab=policies", f"/projects/{VAULT}"),
    "supply-chain": (f"#/projects/{VAULT}?tab=supplychain", f"/projects/{VAULT}"),
    "webhooks": (f"#/projects/{VAULT}?tab=webhooks", f"/projects/{VAULT}"),
    "usage": (f"#/projects/{VAULT}?tab=usage", f"/projects/{VAULT}"),
    "tags": (
        f"#/projects/{VAULT}/repositories/app",
        f"/projects/{VAULT}/repositories/app/-/tags",
    ),
    "artifacts": (
        f"#/projects/{VAULT}/repositories/app?view=artifacts",
        f"/projects/{VAULT}/repositories/app/-/artifacts",
    ),
    "artifact": (
        f"#/projects/{VAULT}/repositories/app/-/artifacts/{{digest}}",
        artifact_path(VAULT, "app", "{digest}"),
    ),
}


def test_the_project_list_shows_no_private_project_of_others(
    ui: Ui, seeded: dict[str, Any], open_page: OpenPage, outsider_state: StorageState
) -> None:
    page = open_page(storage_state=outsider_state)
    visit(page, "#/")
    table = page.get_by_role("table", name=re.compile("Projects"))
    expect(table.locator("caption")).to_contain_text("(0)")
    expect(table).to_contain_text("Nothing here yet.")
    page.get_by_label("Search projects").fill(VAULT)
    expect(table.locator("caption")).to_contain_text("(0)")
    expect(page.get_by_role("link", name=VAULT)).to_have_count(0)


@pytest.mark.parametrize("which", list(PRIVATE_PAGES))
def test_an_outsider_gets_the_apis_refusal_not_the_data(
    ui: Ui,
    seeded: dict[str, Any],
    open_page: OpenPage,
    outsider_state: StorageState,
    watch: Watch,
    which: str,
) -> None:
    where, request = (s.format(digest=seeded["digest"]) for s in PRIVATE_PAGES[which])
    with ui.api() as admin, ui.api(OUTSIDER) as outsider:
        assert admin.get(request).status_code == 200  # the page's data exists
        refusal = outsider.get(request)
    assert refusal.status_code in (403, 404), refusal.text
    message = refusal.json()["errors"][0]["message"]
    watch.allow(refusal.status_code)
    page = open_page(storage_state=outsider_state)
    visit(page, where)
    expect(page.get_by_role("alert")).to_have_text(message)
    text = page.locator("main").inner_text()
    for secret in (*SECRETS, seeded["digest"].removeprefix("sha256:")[:12]):
        if secret not in where:
            assert secret not in text, f"{which}: {secret!r} shown to a non-member"


@pytest.mark.parametrize("section", ["users", "audit", "jobs", "settings", "storage", "backups"])
def test_an_outsider_gets_no_administration(
    ui: Ui,
    seeded: dict[str, Any],
    open_page: OpenPage,
    outsider_state: StorageState,
    watch: Watch,
    section: str,
) -> None:
    watch.allow(403)
    page = open_page(storage_state=outsider_state)
    visit(page, f"#/admin/{section}")
    expect(page.get_by_role("alert")).to_contain_text("administrator")
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
    text = page.locator("main").inner_text()
    assert "mallory" not in text and XSS not in text
