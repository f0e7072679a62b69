"""A fresh server is locked: pushes and deletes need credentials, the first
administrator's generated password is printed once, and no password or secret
ever reaches the log."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.access.conftest import World
from tests.spec.helpers import push_blob
from tests.support.server import run_server

GENERATED = re.compile(r"created administrator 'admin' with password (\S+)")


def test_fresh_server_requires_auth_and_prints_the_password_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_server(data, workers=1, env={"DOCKYARD_ADMIN_PASSWORD": ""}) as srv:
        (password,) = GENERATED.findall(srv.log())
        assert len(password) >= 20
        with httpx.Client(base_url=srv.url) as anon:
            assert anon.get("/v2/").status_code == 401
            r = anon.post("/v2/team/app/blobs/uploads/", params={"digest": "sha256:" + "0" * 64})
            assert r.status_code == 401 and "Bearer realm=" in r.headers["www-authenticate"]
            assert anon.delete(f"/v2/team/app/blobs/sha256:{'0' * 64}").status_code == 401
            assert anon.get("/v2/_catalog").status_code == 401
        with srv.client(("admin", password)) as admin:
            push_blob(admin, "team/app", b"hello")
        first_log = srv.log()
    # the JSON log lines never carry it; the one console line does, once
    for line in first_log.splitlines():
        if line.startswith("{"):
            assert password not in line
    assert first_log.count(password) == 1
    with run_server(data, workers=1, env={"DOCKYARD_ADMIN_PASSWORD": "ignored-now"}) as again:
        assert not GENERATED.findall(again.log())
        assert httpx.get(f"{again.url}/v2/", auth=("admin", password)).status_code == 200
        assert httpx.get(f"{again.url}/v2/", auth=("admin", "ignored-now")).status_code == 401


def test_a_short_admin_password_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            "1",
        ],
        env={"DOCKYARD_ADMIN_PASSWORD": "short", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("dockyard: DOCKYARD_ADMIN_PASSWORD must be")


def test_no_secret_in_the_log(world: World) -> None:
    log = world.server.log()
    secrets = [world.server.admin[1], *(pw for _, pw in world.users.values())]
    secrets += [secret for _, secret in world.robots.values()]
    for line in log.splitlines():
        for secret in secrets:
            assert secret not in line, f"a secret leaked into the log: {line[:200]}"
        if line.startswith("{"):
            json.loads(line)  # every log line is structured


def test_guessing_from_one_address_is_throttled_across_names(tmp_path: Path) -> None:
    env = {
        "DOCKYARD__AUTH__LOGIN__MAX_FAILURES_PER_ADDRESS": "5",
        "DOCKYARD__AUTH__LOGIN__BACKOFF_SECONDS": "120",
    }
    with run_server(tmp_path / "data", workers=1, env=env) as srv:
        url = f"{srv.url}/v2/"
        for i in range(5):
            assert httpx.get(url, auth=(f"guess{i}", "nope")).status_code == 401
        assert httpx.get(url, auth=("guess-next", "nope")).status_code == 429
        # the address is throttled, whoever it claims to be
        assert httpx.get(url, auth=srv.admin).status_code == 429
