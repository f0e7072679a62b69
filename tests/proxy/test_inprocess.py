"""The proxy cache in process: the real app (SQLite, a local folder) through httpx's
ASGI transport, the upstream an in-memory registry behind the Remote protocol that
counts every request it receives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from dockyard.proxy.capability import capability
from dockyard.proxy.source import ProxySource
from dockyard.remote import Endpoint
from tests.inprocess.conftest import ADMIN, InProcess, running
from tests.proxy.fakes import OCI_MANIFEST, FakeEndpoints, FakeRemote, digest_of

ACCEPT = {"Accept": OCI_MANIFEST}


async def until(what: str, probe: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll `probe` until it holds, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[tuple[InProcess, FakeRemote, FakeRemote]]:
    hub = FakeRemote(Endpoint("hub", "https://registry-1.docker.io", kind="dockerhub"))
    ghcr = FakeRemote(Endpoint("ghcr", "https://ghcr.io", kind="ghcr"))
    async with running(tmp_path, [capability()]) as r:
        r.app.services.extensions["proxy.endpoints"] = FakeEndpoints(hub, ghcr)
        async with r.client(ADMIN) as admin:
            for body in (
                {
                    "project": "hub",
                    "endpoint": "hub",
                    "mirror_hosts": ["docker.io"],
                    "tag_ttl_seconds": 0.5,
                    "negative_ttl_seconds": 0.5,
                    "public": True,
                },
                {"project": "gh", "endpoint": "ghcr", "mirror_hosts": ["ghcr.io"]},
            ):
                answer = await admin.post("/api/v1/proxy/caches", json=body)
                assert answer.status_code == 201, answer.text
        yield r, hub, ghcr


def _source(r: InProcess) -> ProxySource:
    found = r.app.services.extensions["proxy"]
    assert isinstance(found, ProxySource)
    return found


async def _pull(client: httpx.AsyncClient, name: str, ref: str, **params: str) -> bytes:
    got = await client.get(f"/v2/{name}/manifests/{ref}", headers=ACCEPT, params=params)
    assert got.status_code == 200, got.text
    import json

    manifest = json.loads(got.content)
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = await client.get(f"/v2/{name}/blobs/{desc['digest']}", params=params)
        assert blob.status_code == 200, blob.text
        assert digest_of(blob.content) == desc["digest"]
    return got.content


async def test_first_pull_fills_the_cache(proxy: tuple[InProcess, FakeRemote, FakeRemote]) -> None:
    r, hub, _ = proxy
    digest = hub.image("library/nginx", "1.27", [os.urandom(300_000), os.urandom(70_000)])
    async with r.client(ADMIN) as c:
        body = await _pull(c, "hub/library/nginx", "1.27")
        assert digest_of(body) == digest
        await _source(r).settle()
        stored = await r.app.services.store.get_manifest("hub/library/nginx", "1.27")
        assert stored is not None and stored.digest == digest
        # by digest, from the store: the upstream is not asked again
        before = sum(hub.calls.values())
        await _pull(c, "hub/library/nginx", digest)
        assert sum(hub.calls.values()) == before


async def test_concurrent_pulls_share_one_download(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, _ = proxy
    hub.chunk_delay = 0.002
    layers = [os.urandom(2_000_000) for _ in range(3)]
    hub.image("library/big", "v1", layers)
    async with r.client(ADMIN) as c:
        # the fixture's 0.5 s tag TTL could lapse while 20 pulls of 6 MB run on a busy
        # machine, and a fresh look at the tag is right then: this test counts one
        changed = await c.patch("/api/v1/proxy/caches/hub", json={"tag_ttl_seconds": 300})
        assert changed.status_code == 200, changed.text
        await asyncio.gather(*(_pull(c, "hub/library/big", "v1") for _ in range(20)))
    await _source(r).settle()
    assert hub.blob_gets, "nothing was fetched"
    assert set(hub.blob_gets.values()) == {1}, hub.blob_gets
    assert hub.calls["get_manifest"] == 1


async def test_upstream_down_serves_stale_and_fails_clearly(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, _ = proxy
    hub.image("library/alpine", "3", [os.urandom(1000)])
    async with r.client(ADMIN) as c:
        await _pull(c, "hub/library/alpine", "3")
        await _source(r).settle()
        hub.down = True
        await asyncio.sleep(0.6)  # the tag TTL (0.5 s) is the subject: let it lapse
        got = await c.get("/v2/hub/library/alpine/manifests/3", headers=ACCEPT)
        assert got.status_code == 200
        assert got.headers["warning"].startswith("299 - ")
        assert "hub" in got.headers["warning"]
        missing = await c.get("/v2/hub/library/busybox/manifests/1", headers=ACCEPT)
        assert missing.status_code == 503
        assert missing.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert "upstream hub" in missing.json()["errors"][0]["message"]


async def test_tag_moved_upstream_is_seen_after_the_ttl(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, _ = proxy
    first = hub.image("library/app", "latest", [os.urandom(500)])
    async with r.client(ADMIN) as c:
        assert digest_of(await _pull(c, "hub/library/app", "latest")) == first
        await _source(r).settle()
        second = hub.image("library/app", "latest", [os.urandom(500)])

        async def moved() -> bool:
            got = await c.get("/v2/hub/library/app/manifests/latest", headers=ACCEPT)
            return bool(got.headers.get("docker-content-digest") == second)

        await until("the moved tag", moved, seconds=5)
        assert hub.calls["head_manifest"] >= 1


async def test_ns_routes_to_each_upstream(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, ghcr = proxy
    a = hub.image("library/nginx", "1.27", [os.urandom(100)])
    b = ghcr.image("org/tool", "v2", [os.urandom(100)])
    async with r.client(ADMIN) as c:
        assert digest_of(await _pull(c, "library/nginx", "1.27", ns="docker.io")) == a
        assert digest_of(await _pull(c, "org/tool", "v2", ns="ghcr.io")) == b
        await _source(r).settle()
        assert await r.app.services.store.get_manifest("gh/org/tool", "v2") is not None
        # an ns no cache mirrors: the name is a local one (here: unknown)
        other = await c.get("/v2/library/nginx/manifests/1.27", params={"ns": "quay.io"})
        assert other.status_code == 404


async def test_pushes_are_refused(proxy: tuple[InProcess, FakeRemote, FakeRemote]) -> None:
    r, _, _ = proxy
    async with r.client(ADMIN) as c:
        put = await c.put(
            "/v2/hub/library/x/manifests/v1",
            content=b"{}",
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 403
        assert "proxy cache" in put.json()["errors"][0]["message"]
        upload = await c.post("/v2/hub/library/x/blobs/uploads/")
        assert upload.status_code == 403


async def test_private_cache_refuses_anonymous_and_does_not_fetch(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, _, ghcr = proxy
    ghcr.image("org/secret", "v1", [os.urandom(100)])
    async with r.client() as anonymous:
        got = await anonymous.get("/v2/gh/org/secret/manifests/v1", headers=ACCEPT)
        assert got.status_code == 401
        got = await anonymous.get("/v2/org/secret/manifests/v1", params={"ns": "ghcr.io"})
        assert got.status_code == 401
        assert 'scope="repository:gh/org/secret:pull"' in got.headers["www-authenticate"]
    assert sum(ghcr.calls.values()) == 0


async def test_lying_upstream_stores_nothing(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, _ = proxy
    layer = os.urandom(600_000)
    hub.image("library/liar", "1", [layer])
    hub.lies[digest_of(layer)] = os.urandom(600_000)
    async with r.client(ADMIN) as c:
        assert (await c.get("/v2/hub/library/liar/manifests/1", headers=ACCEPT)).status_code == 200
        with pytest.raises(Exception):  # noqa: B017 - the connection is aborted mid-body
            got = await c.get(f"/v2/hub/library/liar/blobs/{digest_of(layer)}")
            assert got.status_code != 200 or digest_of(got.content) != digest_of(layer)
            raise RuntimeError("not aborted")
    await _source(r).settle()
    assert await r.app.services.store.get_blob(None, digest_of(layer)) is None
    assert await r.app.services.store.get_manifest("hub/library/liar", "1") is None


async def test_rate_limit_is_honoured(proxy: tuple[InProcess, FakeRemote, FakeRemote]) -> None:
    r, hub, _ = proxy
    hub.image("library/rl", "1", [os.urandom(100)])
    hub.retry_after = 30.0
    async with r.client(ADMIN) as c:
        first = await c.get("/v2/hub/library/rl/manifests/1", headers=ACCEPT)
        assert first.status_code == 429
        calls = sum(hub.calls.values())
        hub.retry_after = None
        again = await c.get("/v2/hub/library/rl/manifests/1", headers=ACCEPT)
        assert again.status_code == 429
        assert int(again.headers["retry-after"]) > 20
        assert sum(hub.calls.values()) == calls  # not asked again before Retry-After


async def test_eviction_removes_least_recently_pulled(
    proxy: tuple[InProcess, FakeRemote, FakeRemote],
) -> None:
    r, hub, _ = proxy
    for name in ("one", "two", "three"):
        hub.image(f"library/{name}", "1", [os.urandom(50_000)])
    async with r.client(ADMIN) as c:
        for name in ("one", "two", "three"):
            await _pull(c, f"hub/library/{name}", "1")
            await _source(r).settle()
            await r.app.services.pulls.flush()
            await asyncio.sleep(0.05)
        await _pull(c, "hub/library/one", "1")  # one is now the most recent
        await r.app.services.pulls.flush()
        limit = await c.patch("/api/v1/proxy/caches/hub", json={"size_limit_bytes": 120_000})
        assert limit.status_code == 200, limit.text
        done = await c.post("/api/v1/proxy/caches/hub/evict")
        assert done.status_code == 200, done.text
        evicted = done.json()["evicted"]
        assert [e.split("@")[0] for e in evicted] == ["hub/library/two"]
        assert done.json()["after_bytes"] <= 120_000


@pytest.mark.parametrize("topology", ["sqlite", "postgres-redis"])
async def test_two_replicas_share_one_download(tmp_path: Path, topology: str) -> None:
    """Two apps on one database and one storage folder (two replicas): 20 clients
    spread over both cause one upstream download per blob; the replica that did not
    get the lease waits for the blob to appear and serves it from the store. Once on
    SQLite, once on PostgreSQL with the Redis cache (the lease rows on both)."""
    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, object] = {}
        if topology != "sqlite":
            from tests.support.postgres import temporary_database
            from tests.support.production import REDIS_URL

            url = await stack.enter_async_context(temporary_database("dockyard_proxy"))
            overrides = {
                "database": {"url": url},
                "redis": {"url": REDIS_URL, "key_prefix": f"proxy-{os.urandom(4).hex()}:"},
            }
        await _two_replicas(tmp_path, overrides)


async def _two_replicas(tmp_path: Path, overrides: dict[str, object]) -> None:
    hub = FakeRemote(Endpoint("hub", "https://registry-1.docker.io"))
    hub.chunk_delay = 0.003
    layers = [os.urandom(1_500_000) for _ in range(3)]
    hub.image("library/shared", "v1", layers)
    async with (
        running(tmp_path, [capability()], overrides) as one,
        running(tmp_path, [capability()], overrides) as two,
    ):
        for r in (one, two):
            r.app.services.extensions["proxy.endpoints"] = FakeEndpoints(hub)
        async with one.client(ADMIN) as a, two.client(ADMIN) as b:
            made = await a.post("/api/v1/proxy/caches", json={"project": "hub", "endpoint": "hub"})
            assert made.status_code == 201, made.text
            await _source(two).refresh()  # instead of waiting for its refresh period
            await asyncio.gather(
                *(_pull(a if i % 2 else b, "hub/library/shared", "v1") for i in range(20))
            )
        await _source(one).settle()
        await _source(two).settle()
        # the cross-replica path was taken: a request found the other's lease
        assert _source(one).fetcher.waited_elsewhere + _source(two).fetcher.waited_elsewhere > 0
    assert len(hub.blob_gets) == 4  # config and three layers
    assert set(hub.blob_gets.values()) == {1}, hub.blob_gets
