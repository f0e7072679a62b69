"""Schemathesis against the OpenAPI document of a running server, as an administrator:
examples, coverage, fuzzing and stateful phases with every check but one. No 500s,
no response that contradicts the document, no invalid input accepted, no valid input
refused, 405 with the right `Allow` for undeclared methods, auth enforced.

Left out, by design: `ensure_resource_availability`. Its inferred links match a new
project's `name` to the `name` of a member to add, which names a *user*: the 404
that follows (no such user) is the documented answer, not a lost project.

A fixed seed keeps runs reproducible; DOCKYARD_SCHEMATHESIS_SEED and
DOCKYARD_SCHEMATHESIS_EXAMPLES explore further.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import ENV
from tests.spec.helpers import push_image
from tests.support.server import RunningServer, run_server

SEED = os.environ.get("DOCKYARD_SCHEMATHESIS_SEED", "20240611")
EXAMPLES = os.environ.get("DOCKYARD_SCHEMATHESIS_EXAMPLES", "40")
LEFT_OUT = "ensure_resource_availability"


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own (the run creates, changes and deletes at random), with a
    repository for the examples to find: team-a/api/server:latest."""
    with run_server(tmp_path_factory.mktemp("schemathesis") / "data", env=ENV) as srv:
        with srv.client(srv.admin) as reg:
            push_image(reg, "team-a/api/server", "latest")
        yield srv


def test_the_api_keeps_its_openapi_promises(fuzzed_server: RunningServer, tmp_path: Path) -> None:
    user, password = fuzzed_server.admin
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{fuzzed_server.url}/api/v1/openapi.json",
        "--auth",
        f"{user}:{password}",
        "--checks",
        "all",
        "--exclude-checks",
        LEFT_OUT,
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--generation-database",
        "none",
        "--no-color",
        "--output-truncate",
        "false",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",  # the API's own formats
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        cmd,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    assert "unhandled error" not in fuzzed_server.log()
