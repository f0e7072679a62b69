"""`dockyard immutability …` and `dockyard retention …` as a person runs them
(subprocesses against the running server), and the scheduled run: the "retention"
schedule's job applies every enabled policy and leaves disabled ones alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lifecycle.retention_support import artifacts, ok, unique, wait_for
from tests.support.oci_layout import build_image
from tests.support.server import RunningServer
from tests.support.tools import Skopeo

pytestmark = pytest.mark.e2e


def dockyard(
    server: RunningServer | None, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if server is not None:
        env.update(
            DOCKYARD_URL=server.url,
            DOCKYARD_USERNAME=server.admin[0],
            DOCKYARD_PASSWORD=server.admin[1],
        )
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def run_json(server: RunningServer, *args: str, stdin: str | None = None) -> Any:
    done = dockyard(server, *args, "--json", stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockyard: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        ("immutability", ["list", "add", "remove"]),
        ("retention", ["show", "set", "delete", "dry-run", "run"]),
    ],
)
def test_help(group: str, commands: list[str]) -> None:
    done = dockyard(None, group, "--help")
    assert done.returncode == 0 and all(c in done.stdout for c in commands), done.stdout
    for command in commands:
        sub = dockyard(None, group, command, "--help")
        assert sub.returncode == 0 and "Usage" in sub.stdout, sub.stderr


def test_the_commands_against_a_server(
    lifecycle_server: RunningServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    srv = lifecycle_server
    project = unique("cli")
    assert dockyard(srv, "project", "create", project).returncode == 0
    repository = f"{project}/app"
    digests = []
    for tag in ("old", "new"):
        img = build_image(tmp_path / tag, "t", layers=[512], seed=f"{repository}-{tag}")
        digests.append(skopeo.push_oci(img.layout, "t", repository, tag))

    rule = run_json(srv, "immutability", "add", project, "--repository", "*", "--tag", "rel-*")
    assert [r["id"] for r in run_json(srv, "immutability", "list", project)] == [rule["id"]]
    listed = dockyard(srv, "immutability", "list", project)
    assert listed.returncode == 0 and "rel-*" in listed.stdout
    assert "already" in one_line_failure(
        dockyard(srv, "immutability", "add", project, "--repository", "*", "--tag", "rel-*")
    )
    assert dockyard(srv, "immutability", "remove", project, str(rule["id"])).returncode == 0
    assert "no immutability rule" in one_line_failure(
        dockyard(srv, "immutability", "remove", project, str(rule["id"]))
    )

    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - repositories: ['*']\n    keep: most_recent\n    count: 1\n")
    assert "no retention policy" in one_line_failure(dockyard(srv, "retention", "show", project))
    done = dockyard(srv, "retention", "set", project, "--file", str(policy))
    assert done.returncode == 0 and "1 rules" in done.stdout, done.stderr
    shown = dockyard(srv, "retention", "show", project)
    assert shown.returncode == 0 and "most_recent" in shown.stdout
    report = run_json(srv, "retention", "dry-run", project)
    assert [d["digest"] for d in report["removed"]] == [digests[0]]
    table = dockyard(srv, "retention", "dry-run", project)
    assert "1 artifacts would be removed, 1 kept" in table.stdout, table.stdout
    # a trial policy from standard input
    trial = json.dumps({"rules": [{"repositories": ["*"], "keep": "always"}]})
    assert (
        run_json(srv, "retention", "dry-run", project, "--file", "-", stdin=trial)["removed"] == []
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"repositories": ["*"], "keep": "most_recent"}]}')
    assert "count" in one_line_failure(
        dockyard(srv, "retention", "set", project, "--file", str(bad))
    )
    assert "cannot read" in one_line_failure(
        dockyard(srv, "retention", "set", project, "--file", str(tmp_path / "missing"))
    )

    done = dockyard(srv, "retention", "run", project, "--wait")
    assert done.returncode == 0, done.stderr
    assert f"{project}: removed 1, kept 1, skipped 0" in done.stdout
    with httpx.Client(base_url=srv.url + "/api/v1", auth=srv.admin, timeout=30) as api:
        assert set(artifacts(api, repository)) == {digests[1]}
    assert dockyard(srv, "retention", "delete", project).returncode == 0


def _finished(api: httpx.Client, job_id: int) -> dict[str, Any] | None:
    job: dict[str, Any] = ok(api.get(f"/jobs/{job_id}"))
    return job if job["state"] not in ("queued", "running") else None


def test_the_schedule_applies_enabled_policies_only(
    lifecycle_server: RunningServer, admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    (schedule,) = [s for s in ok(admin_api.get("/schedules")) if s["name"] == "retention"]
    assert schedule["kind"] == "retention.run" and schedule["cron"] == "0 3 * * *"
    pushed: dict[str, list[str]] = {}
    for enabled in (True, False):
        project = unique("sched")
        ok(admin_api.post("/projects", json={"name": project}), 201)
        repository = f"{project}/app"
        pushed[repository] = []
        for tag in ("a", "b"):
            img = build_image(
                tmp_path / f"{project}{tag}", "t", layers=[512], seed=repository + tag
            )
            pushed[repository].append(skopeo.push_oci(img.layout, "t", repository, tag))
        policy = {
            "enabled": enabled,
            "rules": [{"repositories": ["*"], "keep": "most_recent", "count": 1}],
        }
        ok(admin_api.put(f"/projects/{project}/retention", json=policy))
    job = ok(admin_api.post("/schedules/retention/run"), 202)
    done = wait_for("the scheduled run", lambda: _finished(admin_api, job["id"]), timeout=60)
    assert done["state"] == "succeeded", done
    on, off = list(pushed)
    assert set(artifacts(admin_api, on)) == {pushed[on][1]}
    assert set(artifacts(admin_api, off)) == set(pushed[off])  # disabled: untouched
