"""The dedup report on both databases, against sums worked out by hand: two projects
whose images share layers inside a project and across projects, a blob no manifest
references, and who may read what."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dockyard.usage.capability import capability
from tests.inprocess.conftest import ADMIN, InProcess, running

OCI = "application/vnd.oci.image.manifest.v1+json"


@contextlib.asynccontextmanager
async def registry(tmp_path: Path, topology: str) -> AsyncIterator[InProcess]:
    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, object] = {"usage": {"cache_seconds": 0}}
        if topology == "postgres":
            from tests.support.postgres import temporary_database

            url = await stack.enter_async_context(temporary_database("dockyard_usage"))
            overrides["database"] = {"url": url}
        yield await stack.enter_async_context(running(tmp_path, [capability()], overrides))


async def blob(c: httpx.AsyncClient, repo: str, data: bytes) -> dict[str, object]:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": digest,
        "size": len(data),
    }


async def image(c: httpx.AsyncClient, repo: str, tag: str, layers: list[bytes]) -> int:
    """Push an image; the size of its manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "ref": f"{repo}:{tag}"}).encode()
    cfg = await blob(c, repo, config)
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": cfg,
            "layers": [await blob(c, repo, layer) for layer in layers],
        }
    ).encode()
    r = await c.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 201, r.text
    return len(body) + len(config)  # the manifest's bytes and its config's


@pytest.mark.parametrize("topology", ["sqlite", "postgres"])
async def test_logical_against_physical(tmp_path: Path, topology: str) -> None:
    base = os.urandom(300_000)  # shared by everything
    a_only = os.urandom(50_000)  # shared by a's two images
    extra = os.urandom(20_000)
    async with registry(tmp_path, topology) as r, r.client(ADMIN) as c:
        for project in ("pa", "pb"):
            assert (await c.post("/api/v1/projects", json={"name": project})).status_code == 201
        a1 = await image(c, "pa/app", "1", [base, a_only])
        a2 = await image(c, "pa/app", "2", [base, a_only, extra])
        b1 = await image(c, "pb/svc", "1", [base])
        loose = os.urandom(7_000)  # uploaded, never referenced
        await blob(c, "pb/svc", loose)

        answer = await c.get("/api/v1/usage")
        assert answer.status_code == 200, answer.text
        system = answer.json()
        # per image: its manifest and config (a1, a2, b1 hold both) plus its layers
        logical = a1 + a2 + b1 + 3 * len(base) + 2 * len(a_only) + len(extra)
        physical = a1 + a2 + b1 + len(base) + len(a_only) + len(extra)
        assert system["logical_bytes"] == logical
        assert system["physical_bytes"] == physical
        assert system["saved_bytes"] == logical - physical
        assert system["manifests"] == 3 and system["blobs"] == 3 + 3  # configs + layers
        assert system["unreferenced_bytes"] == len(loose)
        assert system["projects"] == 2

        pa = (await c.get("/api/v1/usage/projects/pa")).json()
        assert pa["logical_bytes"] == a1 + a2 + 2 * len(base) + 2 * len(a_only) + len(extra)
        assert pa["physical_bytes"] == a1 + a2 + len(base) + len(a_only) + len(extra)
        pb = (await c.get("/api/v1/usage/projects/pb")).json()
        assert pb["logical_bytes"] == pb["physical_bytes"] == b1 + len(base)
        # the base layer is in both projects' physical bytes, once in the system's
        assert pa["physical_bytes"] + pb["physical_bytes"] - system["physical_bytes"] == len(base)

        listed = await c.get("/api/v1/usage/projects", params={"sort": "physical"})
        assert [p["project"] for p in listed.json()] == ["pa", "pb"]
        assert listed.headers["x-total-count"] == "2"

        metrics = (await c.get("/metrics")).text
        assert (
            f'dockyard_dedup_logical_bytes{{project="pa"}} {float(pa["logical_bytes"])}' in metrics
        )
        assert f"dockyard_dedup_system_physical_bytes {float(physical)}" in metrics


async def test_members_see_their_project_only(tmp_path: Path) -> None:
    async with running(tmp_path, [capability()]) as r:
        async with r.client(ADMIN) as c:
            for project in ("pub", "priv", "mine"):
                assert (
                    await c.post(
                        "/api/v1/projects", json={"name": project, "public": project == "pub"}
                    )
                ).status_code == 201
            await image(c, "mine/app", "1", [os.urandom(1000)])
            made = await c.post(
                "/api/v1/users", json={"username": "u1", "password": "u1-password-1"}
            )
            assert made.status_code == 201, made.text
            added = await c.post(
                "/api/v1/projects/mine/members",
                json={"kind": "user", "name": "u1", "role": "guest"},
            )
            assert added.status_code == 201, added.text
        async with r.client(("u1", "u1-password-1")) as u:
            assert (await u.get("/api/v1/usage/projects/mine")).json()["manifests"] == 1
            assert (await u.get("/api/v1/usage/projects/pub")).json()["manifests"] == 0
            assert (await u.get("/api/v1/usage/projects/priv")).status_code == 404
            assert (await u.get("/api/v1/usage")).status_code == 403
            assert (await u.get("/api/v1/usage/projects")).status_code == 403
        async with r.client() as anonymous:
            assert (await anonymous.get("/api/v1/usage")).status_code == 401


def test_the_cli_on_a_real_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.spec.helpers import push_image
    from tests.support.server import run_server

    with run_server(tmp_path / "data", workers=1) as server:
        with server.client(server.admin) as c:
            push_image(c, "cli/app", "1")
        user, password = server.admin
        env = {**os.environ, "COLUMNS": "200", "DOCKYARD_URL": server.url,
               "DOCKYARD_USERNAME": user, "DOCKYARD_PASSWORD": password}  # fmt: skip

        def usage(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "dockyard", "usage", *args],
                env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip

        system = usage("system", "--json")
        assert system.returncode == 0, system.stderr
        assert json.loads(system.stdout)["manifests"] == 1
        table = usage("projects")
        assert table.returncode == 0 and "cli" in table.stdout and "1.00x" in table.stdout
        missing = usage("project", "nope")
        assert missing.returncode == 1 and missing.stderr.startswith("dockyard: ")
        assert len(missing.stderr.strip().splitlines()) == 1
