"""Hot/cold tiering on the embedded default (a second folder) and on the production
topology (PostgreSQL; S3 on moto, the cold tier another bucket, STANDARD_IA): the rules
send the right blobs cold, pulls of cold blobs are byte-identical (whole and ranged), a
pull brings a blob back, recall mode copies it back at once, and GC and fsck see both
tiers.

The history is made by moving the pushes and pulls back in time in the database (the
pull statistics are what the rules read); everything else goes through the API."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from dockyard.capabilities import REGISTERED
from dockyard.lifecycle.fsck.checker import Checker
from dockyard.lifecycle.gc.collector import GcOptions
from dockyard.lifecycle.gc.service import run_pass as gc_pass
from dockyard.metadata import schema as s
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver
from dockyard.storage.tiered import TieredDriver
from dockyard.tiering.capability import capability
from dockyard.tiering.service import tiering_of
from tests.inprocess.conftest import ADMIN, InProcess, running

OCI = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MIN = 4096  # tiering.min_blob_bytes: layers are larger, configs smaller


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextlib.asynccontextmanager
async def registry(
    tmp_path: Path, topology: str, request: pytest.FixtureRequest, mode: str = "stream"
) -> AsyncIterator[InProcess]:
    tiering: dict[str, Any] = {"mode": mode, "min_blob_bytes": MIN, "schedule": None}
    overrides: dict[str, Any] = {"tiering": tiering, "gc": {"schedule": None}}
    async with contextlib.AsyncExitStack() as stack:
        if topology == "production":  # PostgreSQL, S3 hot, another bucket cold
            from tests.support.postgres import temporary_database

            url = await stack.enter_async_context(temporary_database("dockyard_tiering"))
            overrides["database"] = {"url": url}
            s3 = request.getfixturevalue("s3_server")
            overrides["storage"] = s3.settings(s3.create_bucket(), "hot")
            tiering["cold"] = s3.settings(s3.create_bucket(), "cold", storage_class="STANDARD_IA")
        else:
            tiering["cold"] = {"driver": "filesystem", "root": str(tmp_path / "cold-tier")}
        chosen = [c for c in REGISTERED if c.name in ("tiering", "gc", "fsck")]
        yield await stack.enter_async_context(running(tmp_path, chosen, overrides))


def tiers(r: InProcess) -> TieredDriver:
    storage = r.app.services.storage
    assert isinstance(storage, TieredDriver)
    return storage


async def on(driver: StorageDriver, digest: str) -> bool:
    try:
        await driver.stat(layout.blob_path(digest))
    except PathNotFound:
        return False
    return True


async def push(c: httpx.AsyncClient, repo: str, tag: str, layers: list[bytes]) -> str:
    async def blob(data: bytes) -> None:
        r = await c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha(data)}, content=data)
        assert r.status_code == 201, r.text

    config = json.dumps({"architecture": "amd64", "os": "linux", "ref": f"{repo}:{tag}"}).encode()
    assert len(config) < MIN
    for data in (config, *layers):
        await blob(data)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER, "digest": sha(x), "size": len(x)} for x in layers],
        }
    ).encode()
    r = await c.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 201, r.text
    return sha(body)


async def pull(c: httpx.AsyncClient, repo: str, tag: str) -> list[bytes]:
    """Pull an image as a client does (the manifest counts the pull); its layers, each
    checked against its digest."""
    r = await c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI})
    assert r.status_code == 200, r.text
    out = []
    for layer in r.json()["layers"]:
        got = await c.get(f"/v2/{repo}/blobs/{layer['digest']}")
        assert got.status_code == 200, got.text
        assert sha(got.content) == layer["digest"] and len(got.content) == layer["size"]
        out.append(got.content)
    return out


async def age(r: InProcess, repo: str, days: float, *, pulled: bool = False) -> None:
    """Make every manifest of `repo` pushed `days` ago (and, with `pulled`, last pulled
    then)."""
    services = r.app.services
    await services.pulls.flush()
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    engine = services.store.write_engine  # type: ignore[attr-defined]
    repos = s.repositories
    async with engine.begin() as conn:
        repo_id = (await conn.execute(repos.select().where(repos.c.name == repo))).one().id
        await conn.execute(
            update(s.manifests)
            .where(s.manifests.c.repository_id == repo_id)
            .values(created_at=then)
        )
        if pulled:
            await conn.execute(
                update(s.artifact_pulls)
                .where(s.artifact_pulls.c.repository_id == repo_id)
                .values(last_pulled_at=then)
            )


async def run_pass(r: InProcess) -> dict[str, int]:
    await r.app.services.pulls.flush()
    return (await tiering_of(r.app.services).run_pass()).public()


async def status(c: httpx.AsyncClient) -> dict[str, Any]:
    answer = await c.get("/api/v1/tiering")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.mark.parametrize("topology", ["embedded", "production"])
async def test_rules_move_the_right_blobs(
    tmp_path: Path, topology: str, request: pytest.FixtureRequest
) -> None:
    shared, l1, l2, l3, l4, l5 = (os.urandom(MIN + 1000 * i) for i in range(6))
    async with registry(tmp_path, topology, request) as r, r.client(ADMIN) as c:
        for project in ("old", "keep"):
            assert (await c.post("/api/v1/projects", json={"name": project})).status_code == 201
        put = await c.put("/api/v1/projects/old/tiering", json={"cold_after_days": 30})
        assert put.status_code == 200, put.text
        assert put.json()["cold_after_days"] == 30
        await push(c, "old/app", "1", [shared, l1])  # not pulled for 100 days: l1 cold
        await push(c, "old/app", "3", [l4, l5])  # l4 cold; l5 also in keep, which has no rule
        await age(r, "old/app", 100)
        await push(c, "old/app", "2", [shared, l2])  # pushed now: shared and l2 stay hot
        await push(c, "keep/svc", "1", [l3, l5])
        await age(r, "keep/svc", 100)

        done = await run_pass(r)
        assert done["cooled"] == 2 and done["cooled_bytes"] == len(l1) + len(l4), done
        assert done["failed"] == 0
        hot, cold = tiers(r).hot, tiers(r).cold
        for data in (l1, l4):
            assert not await on(hot, sha(data)) and await on(cold, sha(data))
        for data in (shared, l2, l3, l5):
            assert await on(hot, sha(data)) and not await on(cold, sha(data))
        found = await status(c)
        assert found["enabled"] and found["rules"] == 1
        assert found["cold"] == {"blobs": 2, "bytes": len(l1) + len(l4)}
        assert found["hot"]["blobs"] >= 4 and found["hot"]["bytes"] >= len(shared + l2 + l3 + l5)
        metrics = (await c.get("/metrics")).text
        assert f'dockyard_storage_tier_bytes{{tier="cold"}} {float(len(l1) + len(l4))}' in metrics

        # a pull of a cold image is byte-identical, and so is a range of a cold blob
        assert await pull(c, "old/app", "3") == [l4, l5]
        ranged = await c.get(f"/v2/old/app/blobs/{sha(l4)}", headers={"Range": "bytes=100-1099"})
        assert ranged.status_code == 206 and ranged.content == l4[100:1100]
        assert tiers(r).cold_reads >= 2
        head = await c.head(f"/v2/old/app/blobs/{sha(l4)}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(l4))

        # that pull counted: the next pass brings l4 back (stream mode); l1 stays cold
        done = await run_pass(r)
        assert (done["cooled"], done["warmed"], done["warmed_bytes"]) == (0, 1, len(l4)), done
        assert await on(hot, sha(l4)) and not await on(cold, sha(l4))
        assert not await on(hot, sha(l1))
        assert (await status(c))["cold"] == {"blobs": 1, "bytes": len(l1)}

        # without its rule the project's blobs come back
        assert (await c.delete("/api/v1/projects/old/tiering")).status_code == 204
        gone = await c.get("/api/v1/projects/old/tiering")
        assert gone.status_code == 200 and gone.json() is None
        done = await run_pass(r)
        assert done["warmed"] == 1 and await on(hot, sha(l1)) and not await on(cold, sha(l1))
        assert (await status(c))["cold"] == {"blobs": 0, "bytes": 0}


@pytest.mark.parametrize("topology", ["embedded", "production"])
async def test_recall_mode_copies_back_on_the_first_read(
    tmp_path: Path, topology: str, request: pytest.FixtureRequest
) -> None:
    layer = os.urandom(3 * MIN)
    async with registry(tmp_path, topology, request, mode="recall") as r, r.client(ADMIN) as c:
        assert (await c.post("/api/v1/projects", json={"name": "p"})).status_code == 201
        assert (
            await c.put("/api/v1/projects/p/tiering", json={"cold_after_days": 7})
        ).status_code == 200
        await push(c, "p/img", "v1", [layer])
        await age(r, "p/img", 8)
        assert (await run_pass(r))["cooled"] == 1
        driver = tiers(r)
        assert not await on(driver.hot, sha(layer))

        assert await pull(c, "p/img", "v1") == [layer]
        await driver.recalls_done()
        assert driver.recalled == 1 and await on(driver.hot, sha(layer))
        # the next pass drops the cold copy of the recalled blob (the pull just
        # counted keeps it from going cold again)
        done = await run_pass(r)
        assert (done["settled"], done["cooled"]) == (1, 0), done
        assert not await on(driver.cold, sha(layer))
        assert (await status(c))["cold"]["blobs"] == 0


@pytest.mark.parametrize("topology", ["embedded", "production"])
async def test_gc_and_fsck_see_both_tiers(
    tmp_path: Path, topology: str, request: pytest.FixtureRequest
) -> None:
    gone, kept = os.urandom(2 * MIN), os.urandom(2 * MIN)
    async with registry(tmp_path, topology, request) as r, r.client(ADMIN) as c:
        assert (await c.post("/api/v1/projects", json={"name": "p"})).status_code == 201
        assert (
            await c.put("/api/v1/projects/p/tiering", json={"cold_after_days": 1})
        ).status_code == 200
        doomed = await push(c, "p/a", "1", [gone])
        await push(c, "p/b", "1", [kept])
        await age(r, "p/a", 2)
        await age(r, "p/b", 2)
        assert (await run_pass(r))["cooled"] == 2
        services = r.app.services
        driver = tiers(r)

        report = await Checker(services.gc, services.storage).run(
            verify_digests=True, repair=False, grace=dt.timedelta(0)
        )
        assert report.clean and not report.garbage, report.as_dict()
        assert report.verified >= 2  # the cold blobs read and hashed through the tiers

        deleted = await c.delete(f"/v2/p/a/manifests/{doomed}")
        assert deleted.status_code == 202, deleted.text
        await gc_pass(services, GcOptions(grace=dt.timedelta(0)), "test")
        assert not await on(driver.cold, sha(gone)) and not await on(driver.hot, sha(gone))
        assert await on(driver.cold, sha(kept))
        # the collected blob's row went with it: the cold tier holds one blob
        assert (await status(c))["cold"] == {"blobs": 1, "bytes": len(kept)}
        assert await pull(c, "p/b", "1") == [kept]
        report = await Checker(services.gc, services.storage).run(
            verify_digests=True, repair=False, grace=dt.timedelta(0)
        )
        assert report.clean and not report.garbage, report.as_dict()


async def test_who_may_do_what(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    async with registry(tmp_path, "embedded", request) as r, r.client(ADMIN) as c:
        assert (await c.post("/api/v1/projects", json={"name": "p"})).status_code == 201
        user = {"username": "dev", "password": "dev-password-123"}
        assert (await c.post("/api/v1/users", json=user)).status_code == 201
        member = {"kind": "user", "name": "dev", "role": "developer"}
        added = await c.post("/api/v1/projects/p/members", json=member)
        assert added.status_code == 201, added.text
        assert (
            await c.put("/api/v1/projects/p/tiering", json={"cold_after_days": 5})
        ).status_code == 200
        async with r.client(("dev", "dev-password-123")) as dev:
            assert (await dev.get("/api/v1/projects/p/tiering")).json()["cold_after_days"] == 5
            denied = await dev.put("/api/v1/projects/p/tiering", json={"cold_after_days": 1})
            assert denied.status_code == 403
            assert (await dev.get("/api/v1/tiering")).status_code == 403
            assert (await dev.post("/api/v1/tiering/run")).status_code == 403
        for bad in ({"cold_after_days": 0}, {"cold_after_days": "x"}, {"days": 3}):
            answer = await c.put("/api/v1/projects/p/tiering", json=bad)
            assert answer.status_code in (400, 422), (bad, answer.text)
        job = await c.post("/api/v1/tiering/run")
        assert job.status_code == 202 and job.json()["job_id"] > 0


async def test_without_a_cold_tier_nothing_changes(tmp_path: Path) -> None:
    async with running(tmp_path, [capability()], {"tiering": {"schedule": None}}) as r:
        assert not isinstance(r.app.services.storage, TieredDriver)
        async with r.client(ADMIN) as c:
            found = await status(c)
            assert not found["enabled"] and found["cold"] == {"blobs": 0, "bytes": 0}
            answer = await c.post("/api/v1/tiering/run")
            assert answer.status_code == 409 and "tiering.cold" in answer.text
