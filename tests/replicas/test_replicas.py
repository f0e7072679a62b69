"""Three replicas over one PostgreSQL + S3 + Redis: any request may land anywhere."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.oci_layout import build_image, verify_layout
from tests.support.production import Deployment
from tests.support.server import RunningServer
from tests.support.tools import Skopeo, require_binary

pytestmark = pytest.mark.e2e


def _repo() -> str:
    return f"rep/{uuid.uuid4().hex[:10]}"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_push_via_one_pull_via_another(cluster: Deployment, tmp_path: Path) -> None:
    require_binary("skopeo")
    a, b, c = cluster.replicas
    img = build_image(tmp_path / "src", "v1", layers=[200_000, 7 * 1024 * 1024], seed="rep1")
    repo = _repo()
    pushed = Skopeo(a.hostport, workdir=tmp_path, credentials=a.login).push_oci(
        img.layout, "v1", repo, "v1"
    )
    assert pushed == img.manifest_digest
    for replica in (b, c):
        out = tmp_path / f"out-{replica.port}"
        Skopeo(replica.hostport, workdir=tmp_path, credentials=replica.login).pull_oci(
            repo, "v1", out, "v1"
        )
        verify_layout(out)
        blobs = {p.name for p in (out / "blobs" / "sha256").iterdir()}
        assert {d.split(":")[1] for d in img.blob_digests()} <= blobs


@pytest.mark.parametrize(
    "sizes",
    [
        (1024, 6 * 1024 * 1024, 3 * 1024 * 1024, 17),  # below, above and across S3's 5 MiB part
        (5 * 1024 * 1024, 5 * 1024 * 1024),  # exactly a part each
    ],
)
def test_chunked_upload_across_replicas(cluster: Deployment, sizes: tuple[int, ...]) -> None:
    repo = _repo()
    chunks = [os.urandom(n) for n in sizes]
    data = b"".join(chunks)
    replicas = cluster.replicas
    with httpx.Client(timeout=120, auth=cluster.auth()) as http:
        r = http.post(f"{replicas[0].url}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202
        path = r.headers["Location"]
        offset = 0
        for i, chunk in enumerate(chunks):
            target = replicas[(i + 1) % len(replicas)]
            r = http.patch(
                target.url + path,
                content=chunk,
                headers={
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert r.status_code == 202, r.text
            offset += len(chunk)
            assert r.headers["Range"] == f"0-{offset - 1}"
            status = http.get(replicas[i % len(replicas)].url + path)
            assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
            path = r.headers["Location"]
        r = http.put(replicas[-1].url + path, params={"digest": _sha(data)})
        assert r.status_code == 201, r.text
        for replica in replicas:
            got = http.get(f"{replica.url}/v2/{repo}/blobs/{_sha(data)}")
            assert got.status_code == 200 and got.content == data


def test_concurrent_pushes_of_one_image(cluster: Deployment, tmp_path: Path) -> None:
    require_binary("skopeo")
    img = build_image(tmp_path / "src", "v1", layers=[300_000, 2 * 1024 * 1024], seed="conc")
    repo = _repo()
    errors: list[BaseException] = []
    digests: list[str] = []

    def push(hostport: str, n: int) -> None:
        try:
            work = tmp_path / f"w{n}"
            work.mkdir()
            digests.append(
                Skopeo(hostport, workdir=work, credentials=cluster.replicas[0].login).push_oci(
                    img.layout, "v1", repo, "v1"
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=push, args=(r.hostport, i)) for i, r in enumerate(cluster.replicas)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert digests == [img.manifest_digest] * 3
    # one consistent answer everywhere, every blob stored once in the bucket
    with httpx.Client(timeout=30, auth=cluster.auth()) as http:
        for replica in cluster.replicas:
            h = http.head(f"{replica.url}/v2/{repo}/manifests/v1")
            assert h.headers["Docker-Content-Digest"] == img.manifest_digest
    stored = [k for k in cluster.s3.keys(cluster.bucket, "registry/blobs/")]
    for digest in img.blob_digests():
        assert sum(k.endswith(digest.split(":")[1]) for k in stored) == 1


def test_tag_moves_are_seen_at_once_everywhere(cluster: Deployment) -> None:
    from tests.spec.helpers import push_image

    repo = _repo()
    a, b, c = cluster.replicas
    clients = [r.client(timeout=30) for r in (a, b, c)]
    try:
        previous = None
        for round_ in range(6):
            writer = clients[round_ % 3]
            digest, _ = push_image(writer, repo, "latest")
            assert digest != previous
            for reader in clients:  # right after the 201: every replica has the new tag
                for _ in range(3):  # and keeps it on repeated (cached) lookups
                    h = reader.head(f"/v2/{repo}/manifests/latest")
                    assert h.headers["Docker-Content-Digest"] == digest
            previous = digest
        # a deleted tag disappears everywhere too
        assert clients[1].delete(f"/v2/{repo}/manifests/latest").status_code == 202
        for reader in clients:
            assert reader.head(f"/v2/{repo}/manifests/latest").status_code == 404
    finally:
        for cl in clients:
            cl.close()


def test_racing_pushes_of_one_tag_end_with_one_winner(cluster: Deployment) -> None:
    from tests.spec.helpers import image, put_manifest, sha256

    repo = _repo()
    clients = [r.client(timeout=60) for r in cluster.replicas]
    try:
        bodies = [image(c, repo)[0] for c in clients]  # three different images, blobs pushed
        barrier = threading.Barrier(len(clients))
        statuses: list[int] = []

        def put(c: httpx.Client, body: bytes) -> None:
            barrier.wait(10)
            statuses.append(put_manifest(c, repo, "race", body).status_code)

        threads = [
            threading.Thread(target=put, args=(c, b)) for c, b in zip(clients, bodies, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses == [201, 201, 201]
        seen = {
            c.head(f"/v2/{repo}/manifests/race").headers["Docker-Content-Digest"] for c in clients
        }
        assert len(seen) == 1 and seen <= {sha256(b) for b in bodies}
        # every pushed manifest exists by digest; only the tag had to pick one
        for body in bodies:
            assert clients[0].head(f"/v2/{repo}/manifests/{sha256(body)}").status_code == 200
    finally:
        for c in clients:
            c.close()


def test_cron_fires_once_per_tick_across_three_replicas(cluster: Deployment) -> None:
    """Three replicas, two worker processes each: six schedulers see every tick of the
    housekeeping schedule; each tick enqueues exactly one job, which one of them runs."""
    import asyncio
    import datetime as dt
    import time

    from sqlalchemy import func, select, update

    from dockyard.jobs.sql import SqlJobQueue
    from dockyard.metadata import schema as s
    from dockyard.metadata.sql import SqlMetadataStore

    name = "jobs.housekeeping"

    async def run() -> list[int]:
        store = SqlMetadataStore(cluster.database_url, pool_size=2)
        queue = SqlJobQueue(store.read_engine, store.writer)
        jobs = s.jobs
        counted = select(func.count()).select_from(jobs).where(jobs.c.schedule == name)
        try:
            deadline = time.monotonic() + 60
            while await queue.schedule(name) is None:  # declared by the replicas at start
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            seen: list[int] = []
            for _tick in range(3):
                past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
                await store.writer.run(
                    lambda c, at=past: c.execute(
                        update(s.schedules).where(s.schedules.c.name == name).values(next_run_at=at)
                    )
                )
                deadline = time.monotonic() + 60
                while True:  # fired, and its job run to the end by some replica
                    done = await queue.find(kind=name, state="succeeded", limit=10)
                    sched = await queue.schedule(name)
                    assert sched is not None
                    if sched.next_run_at > dt.datetime.now(dt.UTC) and len(done) > len(seen):
                        break
                    assert time.monotonic() < deadline, "the tick did not fire"
                    await asyncio.sleep(0.05)
                async with store.read_engine.connect() as conn:
                    seen.append(int(await conn.scalar(counted) or 0))
            assert all(j.result is not None for j in await queue.find(kind=name))
            return seen
        finally:
            await store.close()

    assert asyncio.run(run()) == [1, 2, 3]


def test_a_session_signed_out_on_one_replica_is_refused_by_all(cluster: Deployment) -> None:
    """Sign in through one replica, use the session through each (cached there), sign
    out through another: the cookie is refused everywhere at once."""
    a, b, c = cluster.replicas
    name, password = f"s{uuid.uuid4().hex[:8]}", "session-password-1"
    with httpx.Client(base_url=a.url, auth=a.admin, timeout=30) as admin:
        r = admin.post("/api/v1/users", json={"username": name, "password": password})
        assert r.status_code == 201, r.text
    csrf = {"X-Requested-With": "dockyard-ui"}
    with httpx.Client(base_url=a.url, headers=csrf, timeout=30) as browser:
        r = browser.post("/auth/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        cookie = {"dockyard_session": str(browser.cookies["dockyard_session"])}

    def status(replica: RunningServer) -> list[int]:
        with httpx.Client(base_url=replica.url, cookies=cookie, timeout=30) as s:
            return [s.get("/api/v1/users/current").status_code for _ in range(3)]

    assert [status(r) for r in (a, b, c)] == [[200] * 3] * 3
    with httpx.Client(base_url=b.url, cookies=cookie, headers=csrf, timeout=30) as s:
        assert s.post("/auth/logout").status_code == 204
    assert [status(r) for r in (a, b, c)] == [[401] * 3] * 3
