"""The browser tests' fixtures: a real server per test file (`dockyard serve` on the
embedded default, SQLite and a folder) with the vulnerability database of
tests/support/osv imported and a system default supply-chain policy that trusts one
cosign key, so signatures are verified on every project; Debian's chromium driven by
Playwright (one per session); pages that fail their test on any console error,
uncaught exception or 5xx answer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.support import signing
from tests.support.server import RunningServer, run_server
from tests.ui.support import (
    API,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    OSV,
    Watch,
    ok,
    screenshots_dir,
)

ENV = {
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "100000",
    "DOCKYARD__JOBS__POLL_SECONDS": "0.2",
}
TRUSTED_KEY_NAME = "release"
expect.set_options(timeout=15_000)


@dataclass
class Ui:
    """A test file's registry, and the key its signature policy trusts."""

    server: RunningServer
    key: signing.PrivateKey
    env: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def hostport(self) -> str:
        return self.server.hostport

    def api(self, credentials: tuple[str, str] | None = None) -> httpx.Client:
        """The management API with Basic credentials (the admin's unless given), as
        the CLI uses it."""
        return httpx.Client(
            base_url=self.url + API, auth=credentials or self.server.admin, timeout=60
        )

    def registry(self, credentials: tuple[str, str] | None = None) -> httpx.Client:
        """The distribution API (token auth) as `credentials` (the admin's unless given)."""
        return self.server.client(credentials or self.server.admin)

    def user(self, username: str, password: str, **fields: Any) -> tuple[str, str]:
        """A local user made through the API (not the UI)."""
        with self.api() as api:
            ok(api.post("/users", json={"username": username, "password": password, **fields}))
        self.users[username] = password
        return username, password


def dockyard(ui_env: dict[str, str], data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", *args, "--data-dir", str(data_dir)],
        env={**os.environ, **ui_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def trusted_key() -> signing.PrivateKey:
    """The key `cosign sign --key` signs with in these tests (an ECDSA P-256 key, as
    `cosign generate-key-pair` makes)."""
    return signing.generate_key("p256")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, trusted_key: signing.PrivateKey) -> Iterator[Ui]:
    """The test file's own server (the servers the tests start run the code on
    PYTHONPATH: run_server's subprocess inherits the environment)."""
    base = tmp_path_factory.mktemp("ui")
    with run_server(base / "data", workers=1, env=ENV) as server:
        dockyard(ENV, server.data_dir, "vulndb", "import", str(OSV), "--json")
        ui = Ui(server, trusted_key, ENV)
        policy = {
            "signatures": {
                "mode": "enforce",
                "keys": [{"name": TRUSTED_KEY_NAME, "pem": signing.public_pem(trusted_key)}],
            }
        }
        with ui.api() as api:
            ok(api.put("/supplychain/default", json=policy))
        yield ui


class Chromium:
    """The session's chromium, started when a browser test first needs it. While
    Playwright's sync API is started it keeps an asyncio loop running in the thread,
    and the suite's async tests (pytest-asyncio) refuse to run under it: so the browser
    is stopped when the next test of this process is not a browser test
    (pytest_runtest_teardown below) and started again by the next one that is. Browser
    test files running one after another (scripts/test.sh hands out whole files) share
    one browser."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def browser(self) -> Browser:
        if self._browser is None:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
        return self._browser

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


CHROMIUM_KEY = pytest.StashKey[Chromium]()
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def chromium(request: pytest.FixtureRequest) -> Iterator[Chromium]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is not installed: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    found = Chromium()
    request.config.stash[CHROMIUM_KEY] = found
    yield found
    found.stop()


@pytest.fixture(scope="module")
def browser(chromium: Chromium) -> Browser:
    """The session's browser (Debian's chromium, never a downloaded one)."""
    return chromium.browser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """After the last browser test before other tests (or the end), once its
    fixtures are torn down: stop the browser, freeing the thread's event loop."""
    yield
    if nextitem is None or HERE not in Path(nextitem.path).resolve().parents:
        chromium = item.config.stash.get(CHROMIUM_KEY, None)
        if chromium is not None:
            chromium.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()

OpenPage = Callable[..., Page]


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def open_page(
    browser: Browser, ui: Ui, watch: Watch, request: pytest.FixtureRequest
) -> Iterator[OpenPage]:
    """`open_page(viewport=DESKTOP, storage_state=None)`: a page in a fresh browser
    context (its own cookies) on the test file's server, watched. After the test, a
    failed one leaves screenshots of its pages under failures/, and any problem the
    watch saw fails it."""
    pages: list[Page] = []

    def make(viewport: ViewportSize = DESKTOP, storage_state: Any = None) -> Page:
        context = browser.new_context(
            base_url=ui.url, viewport=viewport, storage_state=storage_state
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        watch.attach(page)
        pages.append(page)
        return page

    yield make
    if request.node.stash.get(FAILED, False):
        folder = screenshots_dir() / "failures"
        folder.mkdir(exist_ok=True)
        stem = request.node.name.replace("/", "_")
        for n, page in enumerate(pages):
            page.screenshot(path=str(folder / f"{stem}-{n}.png"), full_page=True)
    for page in pages:
        page.context.close()
    fail_on(watch, request)


def fail_on(watch: Watch, request: pytest.FixtureRequest) -> None:
    """Fail a test whose pages had problems; a test that failed already gets them
    in its report instead (one failure, not two)."""
    problems = watch.take()
    if not problems:
        return
    text = "the browser saw problems:\n" + "\n".join(problems)
    if request.node.stash.get(FAILED, False):
        request.node.add_report_section("teardown", "browser", text)
    else:
        pytest.fail(text)


@pytest.fixture
def page(open_page: OpenPage) -> Page:
    return open_page()
