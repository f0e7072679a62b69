"""The README's push-and-pull commands, run as written (the server's address in place
of localhost:5000) against a real server, so the README stays true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import ADMIN_PASSWORD, run_server
from tests.support.tools import require_binary

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[str]:
    """Shell lines of the code blocks in the README's "Push and pull" section."""
    text = README.read_text()
    section = text.split("## Push and pull", 1)[1].split("\n## ", 1)[0]
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def test_readme_push_and_pull_run_as_written(tmp_path: Path) -> None:
    for tool in ("umoci", "skopeo", "podman"):
        require_binary(tool)
    commands = _commands()
    assert any(c.startswith("umoci init") for c in commands), commands
    assert any("skopeo copy" in c and "oci:hello:1.0" in c for c in commands), commands
    work = tmp_path / "work"
    work.mkdir()
    with run_server(tmp_path / "data", workers=1) as srv:
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
        for command in commands:
            if command.startswith("docker ") and not _docker_daemon():
                continue
            command = command.replace("localhost:5000", srv.hostport)
            stdin = None
            if " login " in f" {command} ":
                command += " --password-stdin"
                stdin = ADMIN_PASSWORD
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=work,
                env=env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        with srv.client(srv.admin) as c:
            tags = c.get("/v2/team/app/tags/list").json()["tags"]
        # the images podman pulled and tagged name this server: not worth keeping
        for tag in ("1.0", "1.1", "1.2"):
            subprocess.run(["podman", "rmi", "-f", f"{srv.hostport}/team/app:{tag}"],
                           capture_output=True, timeout=60)  # fmt: skip
        assert {"1.0", "1.1"} <= set(tags)
        assert (work / "app-layout" / "index.json").exists()
