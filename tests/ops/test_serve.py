"""`dockyard serve` as an operator starts it: its help, and a port that is taken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import run_server


def test_serve_help_shows_defaults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "serve", "--help"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if " --" in line}
    assert "[default: 0.0.0.0]" in lines["--host"]
    assert "[default: 5000]" in lines["--port"]
    assert "[default: 1]" in lines["--workers"]


def test_a_busy_port_is_refused(tmp_path: Path) -> None:
    with run_server(tmp_path / "first") as first:
        second = [sys.executable, "-m", "dockyard", "serve", "--data-dir", str(tmp_path / "2")]
        done = subprocess.run(
            [*second, "--host", first.host, "--port", str(first.port)],
            env={**os.environ, "DOCKYARD_ADMIN_PASSWORD": "second-server-password"},
            capture_output=True,
            text=True,
            timeout=60,  # a second server that starts never exits: the test fails here
            start_new_session=True,
        )
        assert done.returncode != 0
        assert done.stderr.strip().splitlines() == [
            f"dockyard: port {first.port} on {first.host} is already in use"
        ], done.stderr
        # the first one still answers every request, none went elsewhere
        with httpx.Client(base_url=first.url, timeout=10) as c:
            for _ in range(20):
                assert c.get("/readyz").status_code == 200
        assert first.process.poll() is None
        assert not (tmp_path / "2" / "dockyard.db").exists()
