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
