"""What the browser tests share besides fixtures: the browser's launch options, the
watch that turns a console error, an uncaught exception or a 5xx into a failure,
signing in through the form, images to push (a multi-platform index whose layers hold
known packages, so a scan finds known vulnerabilities), cosign signatures, waiting on
jobs, screenshots and the accessibility checks."""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import (
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Response,
    ViewportSize,
    expect,
)

from tests.supplychain.helpers import push_artifact
from tests.supplychain.images_fixture import debian_image
from tests.support import oci_layout, signing

T = TypeVar("T")

API = "/api/v1"
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium (never a downloaded browser), kept off the network: the machine
# running the suite may have none, and the UI needs none.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
VIEWPORTS: dict[str, ViewportSize] = {"desktop": DESKTOP, "phone": PHONE}
XSS = "<img src=x onerror=window.__xss=1>"
"""HTML a user may put where the UI shows it: rendered as markup, it would set
window.__xss (and the CSP would refuse the inline handler: both defences are checked)"""
XSS_EMAIL = "<img/src=x/onerror=window.__xss=1>@example.org"
"""the same, as an email address (the API takes no spaces in one)"""
# "Failed to load resource: the server responded with a status of 404 (Not Found)"
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


def screenshots_dir() -> Path:
    """Where the tests save their screenshots: $DOCKYARD_UI_SCREENSHOTS, or
    build/ui-screenshots/ at the repository's root."""
    found = os.environ.get("DOCKYARD_UI_SCREENSHOTS")
    path = Path(found) if found else REPO_ROOT / "build" / "ui-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page: Page, name: str) -> Path:
    """Save the whole page (not just the viewport) as NAME.png."""
    path = screenshots_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


@dataclass
class Watch:
    """Everything that went wrong in a test's pages. A console message of type error,
    an uncaught exception, a response with status 500 or more: each is a problem, and
    a test with problems fails. A test that provokes an API refusal on purpose says
    which status it expects (`allow(404)`): the console line Chromium logs for that
    failed fetch is then not a problem. A 5xx never is allowed."""

    problems: list[str] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, *statuses: int) -> None:
        assert all(400 <= s < 500 for s in statuses), statuses
        self.statuses.update(statuses)

    def allow_console(self, pattern: str) -> None:
        """A console error the test provokes on purpose (a refused inline script)."""
        self.patterns.append(re.compile(pattern))

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        failed = FAILED_LOAD.search(text)
        if failed and int(failed.group(1)) in self.statuses:
            return
        if any(p.search(text) for p in self.patterns):
            return
        where = message.location.get("url", "")
        self.problems.append(f"console error: {text} ({where})")

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        self.statuses.clear()
        self.patterns.clear()
        return found


def sign_in(page: Page, username: str, password: str) -> None:
    """Through the sign-in form, as a person would."""
    page.goto("/#/login")
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


AXE = Path(__file__).resolve().parent / "tools" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core (pinned in tests/ui/tools/package.json, installed by scripts/install-test-deps.sh)"""
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def load_axe(page: Page) -> None:
    """Give the page's documents axe-core from now on (before their own scripts, as an
    extension would: the page's CSP does not apply to it)."""
    if not AXE.is_file():
        raise AssertionError(f"{AXE} is missing: run scripts/install-test-deps.sh")
    page.add_init_script(path=str(AXE))


def accessibility_problems(page: Page) -> list[str]:
    """What axe-core (load_axe) finds against WCAG 2.1 A and AA on the page as it is
    now (contrast, names of controls, labels, landmarks, ARIA): one line per rule and
    element."""
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
          return result.violations.map((v) => ({
            id: v.id, help: v.help,
            nodes: v.nodes.map((n) => {
              const why = n.failureSummary.split('\\n').slice(1).join(' ').trim();
              return `${n.target.join(' ')}: ${why}`;
            }),
          }));
        }""",
        AXE_TAGS,
    )
    return [f"{v['id']} ({v['help']}): {node}" for v in found for node in v["nodes"]]


def answer_next_dialog(page: Page, asked: list[str], *, accept: bool = True) -> None:
    """The page's next dialog (the browser's confirm()): its question noted in
    `asked`, then accepted, or dismissed as a person saying Cancel would."""

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", answer)


def visit(page: Page, hash_path: str) -> None:
    """Open a page of the UI by its address (a bookmark, a link someone sent)."""
    page.goto("/" + hash_path)


def no_xss(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined", "an injected handler ran"
    assert page.locator("img[src='x']").count() == 0, "injected markup became an element"


WIDER_THAN_VIEWPORT = """() => {
  const width = document.documentElement.clientWidth;
  const over = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - width;
  if (over <= 0) return [];
  // the innermost elements reaching past the right edge: the ones to fix
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right <= width + 0.5) continue;
    if ([...el.children].some((c) => c.getBoundingClientRect().right > width + 0.5)) continue;
    const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
    culprits.push(`${name}: ${(el.textContent || '').trim().slice(0, 60)}`);
  }
  return [`${over}px too wide`, ...culprits.slice(0, 10)];
}"""


def horizontal_overflow(page: Page) -> list[str]:
    """Nothing when the page fits the viewport's width (no sideways scrolling);
    otherwise by how much, and the innermost elements that stick out."""
    found: list[str] = page.evaluate(WIDER_THAN_VIEWPORT)
    return found


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """`probe()` until it returns something other than None or False, or fail."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(0.1)  # the polling interval of a condition with a deadline
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def ok(response: httpx.Response, *expected: int) -> Any:
    assert response.status_code in (expected or (200, 201, 204)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def wait_job(api: httpx.Client, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """The job once finished; it must have succeeded."""

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = ok(api.get(f"/jobs/{job_id}"))
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(f"job {job_id}", finished, timeout)
    assert job["state"] == "succeeded", job
    return job


def wait_report(api: httpx.Client, artifact: str, timeout: float = 60.0) -> dict[str, Any]:
    """The built-in scanner's report of an artifact (its API path), once there is one."""

    def ready() -> dict[str, Any] | None:
        r = api.get(artifact + "/vulnerabilities")
        return dict(r.json()) if r.status_code == 200 else None

    return wait_for(f"the report of {artifact}", ready, timeout)


def artifact_path(project: str, repo: str, reference: str) -> str:
    return f"/projects/{project}/repositories/{repo}/-/artifacts/{reference}"


# --- images ---------------------------------------------------------------------------

DEBIAN_SUMMARY = {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 2, "LOW": 0, "UNKNOWN": 2}
"""what the built-in scanner finds in debian_image()'s packages with the OSV dataset of
tests/support/osv (tests/supplychain/test_scanning.py checks each finding)"""
OSV = REPO_ROOT / "tests" / "support" / "osv"


def scannable_index(
    layout: Path, tag: str, *, seed: str, annotations: dict[str, str] | None = None
) -> oci_layout.BuiltIndex:
    """A linux/amd64 + linux/arm64 index whose images carry debian_image()'s layers
    (Debian packages, Python, npm, Go and Java ones), so a scan finds DEBIAN_SUMMARY in
    each platform."""
    oci_layout.init_layout(layout)
    image = debian_image()
    layers: list[oci_layout.LayerSpec | oci_layout.Layer] = []
    for blob, media_type in zip(image.layer_blobs, image.layer_media_types, strict=True):
        digest, size = oci_layout.write_blob(layout, blob)
        diff_id = oci_layout.sha256_bytes(gzip.decompress(blob))
        layers.append(oci_layout.Layer(digest, size, diff_id, media_type))
    return oci_layout.build_index(layout, tag, layers=layers, seed=seed, annotations=annotations)


def sign(registry: httpx.Client, repository: str, digest: str, hostport: str, key: Any) -> str:
    """Push a cosign signature of `digest` in the tag form (`sha256-<hex>.sig`), as
    `cosign sign --key` does; returns the signature manifest's digest."""
    manifest, blobs = signing.cosign_tag_signature(digest, f"{hostport}/{repository}", key)
    tag = digest.replace(":", "-") + ".sig"
    return push_artifact(registry, repository, tag, manifest, blobs)


# --- accessibility ----------------------------------------------------------------------

NAMED_ROLES = (
    "textbox",
    "searchbox",
    "combobox",
    "checkbox",
    "radio",
    "spinbutton",
    "button",
    "link",
)
_SNAPSHOT_LINE = re.compile(r"^\s*- (?P<role>[a-z]+)(?P<rest>.*)$")


def unnamed_controls(snapshot: str) -> list[str]:
    """Lines of an ARIA snapshot naming a control without an accessible name (a field
    without a label, a button without text): `- textbox` instead of `- textbox "Name"`."""
    missing = []
    for line in snapshot.splitlines():
        m = _SNAPSHOT_LINE.match(line)
        if m and m.group("role") in NAMED_ROLES and not m.group("rest").lstrip().startswith('"'):
            missing.append(line.strip())
    return missing


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    key: el.dataset.tabKey || '',
    tag: el.tagName.toLowerCase(),
    type: el.getAttribute('type') || '',
    text: (el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || '')
      .trim().replace(/\\s+/g, ' ').slice(0, 80),
    // an outline of 2px or more, and the control on screen (a skip link shows itself)
    visible: el.matches(':focus-visible') && style.outlineStyle !== 'none'
      && parseFloat(style.outlineWidth) >= 2
      && box.right > 0 && box.left < innerWidth && box.width > 0 && box.height > 0,
  };
}"""

MARK_FOCUSABLE = """() => {
  // every control a keyboard should reach: links, buttons, fields, anything tabbable,
  // that is shown and not disabled; each gets a key to recognise it when focused
  const all = document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]');
  const found = [];
  let n = 0;
  for (const el of all) {
    if (el.disabled || el.tabIndex < 0) continue;
    const box = el.getBoundingClientRect();
    const hidden = getComputedStyle(el).visibility === 'hidden'
      || (box.width === 0 && box.height === 0);
    if (hidden && !el.matches('.skip')) continue;
    el.dataset.tabKey = String(++n);
    found.push(el.dataset.tabKey);
  }
  return found;
}"""


def tab_through(page: Page, limit: int = 200) -> list[dict[str, Any]]:
    """Press Tab from where the focus is until it comes back round (or `limit`):
    what got the focus, in order."""
    seen: list[dict[str, Any]] = []
    keys: set[str] = set()
    for _ in range(limit):
        page.keyboard.press("Tab")
        try:
            focused = page.evaluate(FOCUSED)
        except Error:  # the page navigated under the evaluation: read it again
            focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        if focused["key"] and focused["key"] in keys:
            break
        keys.add(focused["key"])
        seen.append(focused)
    return seen
