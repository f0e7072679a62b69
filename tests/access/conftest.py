"""A registry of its own for the access tests, peopled through the management API:
two projects (public `pub`, private `priv`), a user per project role, an outsider,
a developer limited to `priv/api/*`, and robots."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.spec.helpers import image
from tests.support.server import RunningServer, run_server

ROLES = ("project_admin", "maintainer", "developer", "guest", "limited_guest")
PASSWORD = "access-test-password"


@dataclass
class World:
    server: RunningServer
    admin: httpx.Client
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    robots: dict[str, tuple[str, str]] = field(default_factory=dict)

    def api(self, credentials: tuple[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=credentials, timeout=30)


def api_ok(response: httpx.Response, *expected: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code in (expected or (200, 201, 204)), response.text
    return response.json() if response.content else {}


def create_user(admin: httpx.Client, name: str, password: str = PASSWORD) -> tuple[str, str]:
    api_ok(admin.post("/api/v1/users", json={"username": name, "password": password}), 201)
    return name, password


def add_member(
    admin: httpx.Client, project: str, name: str, role: str, repositories: list[str] | None = None
) -> None:
    body = {"kind": "user", "name": name, "role": role, "repositories": repositories}
    api_ok(admin.post(f"/api/v1/projects/{project}/members", json=body), 201)


def create_robot(
    admin: httpx.Client,
    name: str,
    permissions: list[dict],
    project: str | None = None,
    **extra: object,  # type: ignore[type-arg]
) -> tuple[str, str]:
    path = f"/api/v1/projects/{project}/robots" if project else "/api/v1/robots"
    body = {"name": name, "permissions": permissions, **extra}
    got = api_ok(admin.post(path, json=body), 201)
    return got["name"], got["secret"]


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("access")
    with run_server(base / "data", workers=1) as srv:
        admin = httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30)
        w = World(srv, admin)
        for project, public in (("pub", True), ("priv", False)):
            api_ok(admin.post("/api/v1/projects", json={"name": project, "public": public}), 201)
        for role in ROLES:
            w.users[role] = create_user(admin, f"u-{role.replace('_', '-')}")
            for project in ("pub", "priv"):
                add_member(admin, project, w.users[role][0], role)
        w.users["outsider"] = create_user(admin, "u-outsider")
        w.users["scoped"] = create_user(admin, "u-scoped")
        add_member(admin, "priv", "u-scoped", "developer", ["priv/api/*"])
        w.robots["project"] = create_robot(
            admin,
            "ci",
            [{"project": "priv", "repositories": ["priv/*"], "actions": ["pull", "push"]}],
            project="priv",
        )
        w.robots["puller"] = create_robot(
            admin, "puller", [{"project": "*", "repositories": [], "actions": ["pull"]}]
        )
        with srv.client(srv.admin) as reg:
            for repo in ("pub/app", "priv/app", "priv/api/server"):
                raw, doc = image(reg, repo)
                r = reg.put(
                    f"/v2/{repo}/manifests/seed",
                    content=raw,
                    headers={"Content-Type": doc["mediaType"]},
                )
                assert r.status_code == 201, r.text
        yield w
        admin.close()
