"""Fixtures shared by the end-to-end tests (real clients against a real server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer
from tests.support.tools import Skopeo, require_binary

SERVER_LOG_TAIL = 200  # lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the server log lines written during the test to the report."""
    report = yield
    if report.failed and call.when == "call":
        srv = getattr(item, "funcargs", {}).get("server")
        start = item.stash.get(_log_offset, 0)
        if isinstance(srv, RunningServer):
            try:
                text = srv.log()[start:]
            except OSError as exc:  # pragma: no cover - diagnostics only
                text = f"<could not read server log: {exc}>"
            lines = text.splitlines()[-SERVER_LOG_TAIL:]
            rc = srv.process.poll()
            state = "still running" if rc is None else f"EXITED with status {rc}"
            lines.insert(0, f"[server pid {srv.process.pid} {state}]")
            report.sections.append(("server log (during this test)", "\n".join(lines)))
    return report


_log_offset = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _mark_server_log_offset(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        srv: RunningServer = request.getfixturevalue("server")
        try:
            request.node.stash[_log_offset] = len(srv.log())
        except OSError:
            request.node.stash[_log_offset] = 0


@pytest.fixture
def skopeo(server: RunningServer, tmp_path: Path) -> Skopeo:
    require_binary("skopeo")
    return Skopeo(server.hostport, workdir=tmp_path, credentials=server.login)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to this test, e.g. e2e/test-copy-roundtrip."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"e2e/{name}"[:200]
