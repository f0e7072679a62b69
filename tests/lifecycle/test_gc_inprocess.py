"""A GC pass through the real app in process (real SQLite, real folder): what nothing
references goes (rows, links, bytes), what a tag reaches stays and still pulls, the
dry run reports exactly what the pass then does, the quota stays right, untagged
manifests go only when asked (indexes keep their children, referrers follow their
subject), and a pass killed between claiming and forgetting is finished by the next."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from dockyard.capabilities import REGISTERED
from dockyard.lifecycle.gc.collector import Collector, GcOptions
from dockyard.lifecycle.gc.service import run_pass
from dockyard.metadata import schema as s
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound
from tests.inprocess.conftest import ADMIN, InProcess, running
from tests.lifecycle.helpers import Pushed, digest_of, push_blob, push_image, push_index

NOW = GcOptions(grace=dt.timedelta(0))


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with running(tmp_path, REGISTERED, {"jobs": {"run_in_serve": False}}) as r:
        yield r


@pytest.fixture
async def client(registry: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with registry.client(auth=ADMIN) as c:
        yield c


async def has_bytes(registry: InProcess, digest: str) -> bool:
    try:
        await registry.app.services.storage.stat(layout.blob_path(digest))
    except PathNotFound:
        return False
    return True


async def quota_is_right(registry: InProcess) -> None:
    """used_bytes == distinct blobs linked + distinct manifests held, per project."""
    engine = registry.app.services.store.read_engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        for pid, used in (
            await conn.execute(select(s.projects.c.id, s.projects.c.used_bytes))
        ).all():
            blobs = await conn.scalar(
                text(
                    "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE digest IN (SELECT rb.digest "
                    "FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id "
                    "WHERE r.project_id = :p)"
                ),
                {"p": pid},
            )
            manifests = await conn.scalar(
                text(
                    "SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT m.digest, m.size FROM "
                    "manifests m JOIN repositories r ON r.id = m.repository_id "
                    "WHERE r.project_id = :p) x"
                ),
                {"p": pid},
            )
            assert used == blobs + manifests, f"project {pid}: used {used} != {blobs}+{manifests}"


async def pulls(client: httpx.AsyncClient, image: Pushed) -> None:
    r = await client.get(f"/v2/{image.repository}/manifests/{image.reference}")
    assert r.status_code == 200 and digest_of(r.content) == image.digest
    for digest in image.blobs:
        r = await client.get(f"/v2/{image.repository}/blobs/{digest}")
        assert r.status_code == 200 and digest_of(r.content) == digest


async def test_gc_deletes_what_nothing_references(
    registry: InProcess, client: httpx.AsyncClient
) -> None:
    shared = os.urandom(3000)
    a = await push_image(client, "team/app", "a", [shared, os.urandom(2000)])
    b = await push_image(client, "team/app", "b", [shared, os.urandom(1000)])
    other = await push_image(client, "team/other", "v1", [shared])
    stray = await push_blob(client, "team/app", os.urandom(500))  # never referenced
    assert (await client.delete(f"/v2/team/app/manifests/{a.digest}")).status_code == 202
    services = registry.app.services

    dry = await run_pass(services, GcOptions(grace=dt.timedelta(0), dry_run=True), "test")
    gone = {a.blobs[0], a.blobs[2], stray}  # a's config and own layer, the stray blob
    assert (dry.blobs, dry.links, dry.bytes_freed) == (
        3,
        3,
        sum(a.sizes[0:1]) + a.sizes[2] + 500,
    )
    for digest in gone:
        assert await has_bytes(registry, digest)  # a dry run deletes nothing

    report = await run_pass(services, NOW, "test")
    assert (report.blobs, report.links, report.bytes_freed) == (
        dry.blobs,
        dry.links,
        dry.bytes_freed,
    )
    assert set(report.samples["blobs"]) == gone
    for digest in gone:
        assert not await has_bytes(registry, digest)
        r = await client.head(f"/v2/team/app/blobs/{digest}")
        assert r.status_code == 404
    for image in (b, other):
        await pulls(client, image)
    assert await has_bytes(registry, shared_digest := digest_of(shared))
    assert shared_digest in b.blobs
    await quota_is_right(registry)

    again = await run_pass(services, NOW, "test")
    assert (again.blobs, again.links, again.manifests) == (0, 0, 0)
    runs = await services.gc.runs(5)
    assert [r.state for r in runs] == ["succeeded"] * 3
    assert runs[1].report is not None and runs[1].report["blobs"] == 3


async def test_grace_keeps_recent_pushes(registry: InProcess, client: httpx.AsyncClient) -> None:
    stray = await push_blob(client, "team/app", os.urandom(100))
    report = await run_pass(registry.app.services, GcOptions(grace=dt.timedelta(hours=1)), "test")
    assert report.blobs == 0 and await has_bytes(registry, stray)


async def test_untagged_manifests(registry: InProcess, client: httpx.AsyncClient) -> None:
    repo = "team/multi"
    # children are pushed by digest (untagged), the index is tagged: all stay
    kept = [await push_image(client, repo, f"c{i}", [os.urandom(300)]) for i in range(2)]
    for child in kept:
        assert (
            await client.delete(f"/v2/{repo}/manifests/c{kept.index(child)}")
        ).status_code == 202
    index = await push_index(client, repo, "latest", kept)
    lonely = await push_image(client, repo, "lonely", [os.urandom(300)])
    assert (await client.delete(f"/v2/{repo}/manifests/lonely")).status_code == 202  # untag
    tagged = await push_image(client, repo, "tagged", [os.urandom(300)])
    sig = await push_image(client, repo, "sigtmp", [os.urandom(50)], subject=(tagged.digest, 1))
    await client.delete(f"/v2/{repo}/manifests/sigtmp")
    orphan_sig = await push_image(
        client, repo, "sig2", [os.urandom(50)], subject=(lonely.digest, 1)
    )
    await client.delete(f"/v2/{repo}/manifests/sig2")

    services = registry.app.services
    without = await run_pass(services, NOW, "test")
    assert without.manifests == 0  # kept unless asked
    opts = GcOptions(grace=dt.timedelta(0), delete_untagged=True)
    dry = await run_pass(
        services, GcOptions(grace=dt.timedelta(0), delete_untagged=True, dry_run=True), "test"
    )
    report = await run_pass(services, opts, "test")
    assert report.manifests == dry.manifests == 2
    assert sorted(report.samples["manifests"]) == sorted(
        [f"{repo}@{lonely.digest}", f"{repo}@{orphan_sig.digest}"]
    )
    assert (report.blobs, report.bytes_freed) == (dry.blobs, dry.bytes_freed)
    for digest in (*lonely.blobs, *orphan_sig.blobs):
        assert not await has_bytes(registry, digest)
    r = await client.get(f"/v2/{repo}/manifests/{lonely.digest}")
    assert r.status_code == 404
    r = await client.get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 200 and digest_of(r.content) == index
    for child in kept:
        for digest in child.blobs:
            assert (await client.get(f"/v2/{repo}/blobs/{digest}")).status_code == 200
    r = await client.get(f"/v2/{repo}/referrers/{tagged.digest}")
    assert [m["digest"] for m in r.json()["manifests"]] == [sig.digest]  # follows its subject
    await quota_is_right(registry)


async def test_a_pass_killed_after_claiming_is_finished_by_the_next(
    registry: InProcess, client: httpx.AsyncClient
) -> None:
    services = registry.app.services
    doomed = [await push_blob(client, "team/app", os.urandom(200)) for _ in range(3)]
    for digest in doomed:
        assert await services.store.unlink_blob("team/app", digest)

    class Killed(Exception):
        pass

    class DiesAfterClaiming(Collector):
        async def _delete_bytes(self, report, claimed):  # type: ignore[no-untyped-def]
            await services.storage.delete(layout.blob_path(claimed[0].digest))
            raise Killed  # as kill -9 would stop it: claimed, one key deleted, rows kept

    with pytest.raises(Killed):
        await DiesAfterClaiming(services.gc, services.store, services.storage).run(NOW)
    assert len(await services.gc.claimed_blobs()) == 3
    # a push of a claimed blob waits for the row to go (here it times out: no pass runs)
    report = await run_pass(services, NOW, "test")
    assert report.resumed_blobs == 3 and report.blobs == 3
    assert await services.gc.claimed_blobs() == []
    for digest in doomed:
        assert not await has_bytes(registry, digest)


async def test_a_repush_of_a_claimed_blob_waits_and_survives(
    registry: InProcess, client: httpx.AsyncClient
) -> None:
    services = registry.app.services
    data = os.urandom(700)
    digest = await push_blob(client, "team/app", data)
    assert await services.store.unlink_blob("team/app", digest)
    engine = services.store.read_engine  # type: ignore[attr-defined]
    claimed = await services.gc.claim_blobs([digest], dt.datetime.now(dt.UTC))
    assert [c.digest for c in claimed] == [digest]

    import asyncio

    push = asyncio.ensure_future(push_blob(client, "team/app", data))
    await asyncio.sleep(0.3)  # the push is waiting on the claim (a deadline follows)
    assert not push.done()
    await services.storage.delete_many([layout.blob_path(digest)])
    await services.gc.forget_blobs([digest])
    assert await asyncio.wait_for(push, 10) == digest
    assert await has_bytes(registry, digest)
    async with engine.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(s.repository_blobs))
    assert n == 1
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200 and r.content == data
