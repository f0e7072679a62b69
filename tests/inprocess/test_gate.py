"""Authorization on /v2/ and the management API, in process: challenges, refusals,
cross-site requests, error rendering."""

from __future__ import annotations

import hashlib
import re

import httpx

from tests.inprocess.conftest import ADMIN, BASE, InProcess


def _challenge(r: httpx.Response) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', r.headers["www-authenticate"]))


async def _token(c: httpx.AsyncClient, scope: str, auth: tuple[str, str] = ADMIN) -> str:
    r = await c.get("/auth/token", params={"service": "dockyard", "scope": scope}, auth=auth)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_base_needs_a_login(registry: InProcess) -> None:
    async with registry.client() as c:
        r = await c.get("/v2/")
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert "log in" in r.json()["errors"][0]["message"]
        assert r.headers["docker-distribution-api-version"] == "registry/2.0"
        assert (await c.get("/v2/", auth=ADMIN)).status_code == 200


async def test_push_challenge_and_insufficient_scope(registry: InProcess) -> None:
    async with registry.client() as c:
        r = await c.post("/v2/team/app/blobs/uploads/")
        assert _challenge(r)["scope"] == "repository:team/app:pull,push"
        pull_only = await _token(c, "repository:team/app:pull")
        r = await c.post(
            "/v2/team/app/blobs/uploads/", headers={"Authorization": f"Bearer {pull_only}"}
        )
        assert r.status_code == 401
        assert _challenge(r)["error"] == "insufficient_scope"
        push = await _token(c, "repository:team/app:pull,push")
        data = b"in process"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = await c.post(
            "/v2/team/app/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers={"Authorization": f"Bearer {push}"},
        )
        assert r.status_code == 201, r.text
        r = await c.get(f"/v2/team/app/blobs/{digest}", headers={"Authorization": f"Bearer {push}"})
        assert r.status_code == 200 and r.content == data


async def test_cross_site_changes_are_refused(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as c:
        r = await c.post(
            "/api/v1/projects", json={"name": "csrf"}, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403 and "cross-site" in r.json()["errors"][0]["message"]
        assert (await c.get("/api/v1/projects/csrf")).status_code == 404
        r = await c.post("/api/v1/projects", json={"name": "csrf"}, headers={"Origin": BASE})
        assert r.status_code == 201, r.text


async def test_unknown_routes_and_methods(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as c:
        r = await c.get("/v2/team/app/nothing-here")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
        r = await c.patch("/v2/team/app/manifests/latest")
        assert r.status_code == 405 and "PUT" in r.headers["allow"]
        r = await c.get("/v2/Team/app/tags/list")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID"
