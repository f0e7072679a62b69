"""`dockyard user|project|robot|member` as a person runs them: subprocesses against
the running server, credentials from the environment or options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.api.conftest import PASSWORD, Registry, ok, unique

GROUPS = {
    "user": ["list", "get", "current", "create", "passwd", "set", "delete"],
    "project": ["list", "get", "create", "update", "delete"],
    "robot": ["list", "get", "create", "rotate", "disable", "enable", "delete"],
    "member": ["list", "add", "update", "remove"],
}


def dockyard(registry: Registry | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200"}
    if registry is not None:
        user, password = registry.server.admin
        full_env.update(
            DOCKYARD_URL=registry.url, DOCKYARD_USERNAME=user, DOCKYARD_PASSWORD=password
        )
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        env={**full_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def run_json(registry: Registry, *args: str, **env: str) -> Any:
    done = dockyard(registry, *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockyard: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_help_everywhere(group: str) -> None:
    done = dockyard(None, group, "--help")
    assert done.returncode == 0 and "Usage" in done.stdout
    for command in GROUPS[group]:
        done = dockyard(None, group, command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--url" in done.stdout and "--json" in done.stdout


def test_projects_members_and_robots(registry: Registry) -> None:
    project = unique("cli")
    made = run_json(registry, "project", "create", project, "--public", "--quota", "10GiB")
    assert made["public"] is True and made["quota_bytes"] == 10 * 1024**3
    table = dockyard(registry, "project", "get", project)
    assert table.returncode == 0 and project in table.stdout and "10.0 GiB" in table.stdout
    updated = run_json(registry, "project", "update", project, "--private", "--quota", "none")
    assert updated["public"] is False and updated["quota_bytes"] is None

    alice = registry.user("alice")[0]
    member = run_json(
        registry, "member", "add", project, alice, "--role", "developer",
        "--repositories", f"{project}/api/*",
    )  # fmt: skip
    assert member["role"] == "developer" and member["repositories"] == [f"{project}/api/*"]
    changed = run_json(registry, "member", "update", project, alice, "--role", "guest")
    assert changed["role"] == "guest" and changed["id"] == member["id"]
    listed = run_json(registry, "member", "list", project)
    assert {m["name"] for m in listed} == {"admin", alice}

    robot = run_json(
        registry, "robot", "create", "ci", "--project", project,
        "--permission", f"{project}:{project}/*:pull,push", "--expires-in-days", "30",
    )  # fmt: skip
    name, secret = robot["name"], robot["secret"]
    assert name == f"robot${project}+ci" and robot["expires_at"]
    assert robot["permissions"] == [
        {"project": project, "repositories": [f"{project}/*"], "actions": ["pull", "push"]}
    ]
    assert httpx.get(f"{registry.url}/v2/", auth=(name, secret)).status_code == 200
    rotated = dockyard(registry, "robot", "rotate", "ci", "--project", project)
    assert rotated.returncode == 0 and "store it now" in rotated.stderr
    fresh = rotated.stdout.split("secret:")[1].split()[0]
    assert httpx.get(f"{registry.url}/v2/", auth=(name, secret)).status_code == 401
    assert httpx.get(f"{registry.url}/v2/", auth=(name, fresh)).status_code == 200
    assert run_json(registry, "robot", "disable", name, "--project", project)["disabled"] is True
    assert httpx.get(f"{registry.url}/v2/", auth=(name, fresh)).status_code == 401
    assert run_json(registry, "robot", "enable", "ci", "--project", project)["disabled"] is False
    assert [r["name"] for r in run_json(registry, "robot", "list", "--project", project)] == [name]
    assert dockyard(registry, "robot", "delete", "ci", "--project", project).returncode == 0
    assert dockyard(registry, "member", "remove", project, alice).returncode == 0
    assert dockyard(registry, "project", "delete", project).returncode == 0
    one_line_failure(dockyard(registry, "project", "get", project))

    system = run_json(registry, "robot", "create", unique("sys"), "--permission", "*:pull")
    assert system["permissions"] == [{"project": "*", "repositories": [], "actions": ["pull"]}]


def test_users(registry: Registry) -> None:
    name = unique("cliuser")
    made = run_json(
        registry, "user", "create", name, "--new-password", PASSWORD, "--email", "c@x.org"
    )
    assert made["username"] == name and made["email"] == "c@x.org"
    assert name in [u["username"] for u in run_json(registry, "user", "list", "-q", name)]
    assert (
        dockyard(registry, "user", "passwd", name, "--new-password", "another-password").returncode
        == 0
    )
    as_user = {"DOCKYARD_USERNAME": name, "DOCKYARD_PASSWORD": "another-password"}
    me = run_json(registry, "user", "current", **as_user)
    assert me["username"] == name and me["kind"] == "user"
    own = dockyard(
        registry, "user", "passwd", name, "--new-password", PASSWORD,
        "--current-password", "another-password", **as_user,
    )  # fmt: skip
    assert own.returncode == 0, own.stderr
    assert run_json(registry, "user", "set", name, "--disable")["disabled"] is True
    assert dockyard(registry, "user", "delete", name).returncode == 0
    with registry.admin() as admin:
        assert admin.get(f"/users/{name}").status_code == 404


def test_token_login(registry: Registry) -> None:
    r = httpx.get(
        f"{registry.url}/auth/token", params={"service": "dockyard"}, auth=registry.server.admin
    )
    token = ok(r)["token"]
    me = run_json(
        registry, "user", "current", "--token", token, DOCKYARD_USERNAME="", DOCKYARD_PASSWORD=""
    )
    assert me["username"] == registry.server.admin[0]


def test_failures_are_one_line(registry: Registry) -> None:
    line = one_line_failure(dockyard(registry, "user", "list", DOCKYARD_PASSWORD="wrong-password"))
    assert line == "dockyard: invalid username or password"
    assert "no password" in one_line_failure(
        dockyard(registry, "user", "list", DOCKYARD_PASSWORD="")
    )
    line = one_line_failure(dockyard(registry, "user", "list", "--url", "http://127.0.0.1:9"))
    assert "cannot reach http://127.0.0.1:9" in line
    one_line_failure(dockyard(registry, "project", "create", "Not Valid"))
    assert "not a size" in one_line_failure(
        dockyard(registry, "project", "create", unique("q"), "--quota", "lots")
    )
    assert "not a permission" in one_line_failure(
        dockyard(registry, "robot", "create", "x", "--permission", "nonsense")
    )
    user = registry.user()
    as_user = {"DOCKYARD_USERNAME": user[0], "DOCKYARD_PASSWORD": user[1]}
    assert "administrator" in one_line_failure(dockyard(registry, "user", "list", **as_user))
    assert "not a member" in one_line_failure(
        dockyard(registry, "member", "remove", registry.project(), "nobody")
    )


def _on_terminal(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> str:
    """Run `dockyard *args` on a pseudo-terminal of its own, answering each prompt
    (text it waits for, then the line to type); return everything it printed.
    click prints a hidden prompt's last space only once echo is off: wait for it."""
    import pty
    import select
    import signal

    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "dockyard", *args], env)
    seen = b""
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"no output for 30 s; so far: {seen!r}"
            try:
                got = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not got:
                break
            seen += got
            if pending and pending[0][0].encode() in seen.rsplit(b"\n", 1)[-1]:
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert not pending, f"never asked {pending}; printed {seen!r}"
    assert os.waitstatus_to_exitcode(status) == 0, seen
    return seen.decode(errors="replace")


def test_new_password_is_asked_for_not_required(registry: Registry) -> None:
    for command in ("create", "passwd"):
        done = dockyard(None, "user", command, "--help")
        line = next(x for x in done.stdout.splitlines() if "--new-password" in x)
        assert "*" not in line.split("--new-password")[0], line  # not marked required
        assert "required" not in done.stdout.split("--new-password")[1].split("--")[0]
    # no terminal to ask on: one line, nothing created
    name = unique("prompted")
    line = one_line_failure(dockyard(registry, "user", "create", name))
    assert line == "dockyard: no new password: give --new-password"
    with registry.admin() as admin:
        assert admin.get(f"/users/{name}").status_code == 404
    # on a terminal: asked twice, hidden, then used
    user, password = registry.server.admin
    env = {
        **os.environ,
        "DOCKYARD_URL": registry.url,
        "DOCKYARD_USERNAME": user,
        "DOCKYARD_PASSWORD": password,
    }
    secret = "typed-at-the-prompt"
    printed = _on_terminal(
        ["user", "create", name, "--json"],
        env,
        [("New password: ", secret), ("Repeat for confirmation: ", secret)],
    )
    assert secret not in printed  # hidden input is not echoed
    assert httpx.get(f"{registry.url}/v2/", auth=(name, secret)).status_code == 200
    changed = "changed-at-the-prompt"
    _on_terminal(
        ["user", "passwd", name],
        env,
        [("New password: ", changed), ("Repeat for confirmation: ", changed)],
    )
    assert httpx.get(f"{registry.url}/v2/", auth=(name, changed)).status_code == 200
    assert httpx.get(f"{registry.url}/v2/", auth=(name, secret)).status_code == 401
