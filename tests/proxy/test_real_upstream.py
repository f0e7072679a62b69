"""The proxy cache against a real upstream: a second Dockyard server (token auth)
holding the images, stored as a registry endpoint through /api/v1/registries and
reached with the real client (dockyard.remote.client, Docker token auth). Upstream
downloads are counted AT THE UPSTREAM, from its access log."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from dockyard.proxy.capability import capability
from dockyard.proxy.source import ProxySource
from dockyard.remote.capability import capability as registries
from tests.inprocess.conftest import ADMIN, InProcess, running
from tests.proxy.test_inprocess import ACCEPT, until
from tests.spec.helpers import push_blob, put_manifest, sha256
from tests.support.server import RunningServer, run_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("upstream") / "data"
    with run_server(data, workers=1, env={"DOCKYARD__SERVER__ACCESS_LOG": "true"}) as server:
        yield server


def push(server: RunningServer, repo: str, tag: str, layers: list[bytes]) -> str:
    with server.client() as c:
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()})
        cfg = push_blob(c, repo, config.encode())
        descs = []
        for layer in layers:
            descs.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(c, repo, layer),
                    "size": len(layer),
                }
            )
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": cfg,
                    "size": len(config),
                },
                "layers": descs,
            }
        ).encode()
        answer = put_manifest(c, repo, tag, body)
        assert answer.status_code == 201, answer.text
        return str(answer.headers["docker-content-digest"])


def blob_gets(server: RunningServer, repo: str) -> Counter[str]:
    """GET …/blobs/<digest> answered 200, per digest, from the upstream's access log."""
    counts: Counter[str] = Counter()
    for line in server.log().splitlines():
        if '"route"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        path = str(entry.get("path", ""))
        if (
            entry.get("method") == "GET"
            and entry.get("status") == 200
            and f"/v2/{repo}/blobs/" in path
        ):
            counts[path.rsplit("/", 1)[1]] += 1
    return counts


@pytest.fixture
async def proxy(tmp_path: Path, upstream: RunningServer) -> AsyncIterator[InProcess]:
    async with running(tmp_path, [registries(), capability()]) as r:
        async with r.client(ADMIN) as admin:
            stored = await admin.post(
                "/api/v1/registries",
                json={
                    "name": "up",
                    "url": upstream.url,
                    "kind": "dockyard",
                    "username": upstream.admin[0],
                    "password": upstream.admin[1],
                },
            )
            assert stored.status_code == 201, stored.text
            made = await admin.post(
                "/api/v1/proxy/caches",
                json={
                    "project": "up",
                    "endpoint": "up",
                    "mirror_hosts": ["docker.io"],
                    "tag_ttl_seconds": 1,
                },
            )
            assert made.status_code == 201, made.text
        yield r


def _source(r: InProcess) -> ProxySource:
    found = r.app.services.extensions["proxy"]
    assert isinstance(found, ProxySource)
    return found


async def _pull(client: httpx.AsyncClient, name: str, ref: str, **params: str) -> str:
    got = await client.get(f"/v2/{name}/manifests/{ref}", headers=ACCEPT, params=params)
    assert got.status_code == 200, got.text
    manifest = json.loads(got.content)
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = await client.get(f"/v2/{name}/blobs/{desc['digest']}", params=params)
        assert blob.status_code == 200, blob.text
        assert sha256(blob.content) == desc["digest"]
    return sha256(got.content)


async def test_twenty_clients_one_upstream_download_each(
    proxy: InProcess, upstream: RunningServer
) -> None:
    r = proxy
    layers = [os.urandom(8 << 20) for _ in range(3)]
    digest = await asyncio.to_thread(push, upstream, "team/big", "v1", layers)
    async with r.client(ADMIN) as c:
        pulled = await asyncio.gather(*(_pull(c, "up/team/big", "v1") for _ in range(20)))
    assert set(pulled) == {digest}
    await _source(r).settle()
    counts = blob_gets(upstream, "team/big")  # the access log is written as it answers
    assert len(counts) == 4, counts
    assert set(counts.values()) == {1}, counts
    size = sum(len(x) for x in layers)
    assert _source(r).counts[("up", "upstream_bytes")] <= size * 1.05


async def test_tag_moved_and_ns_and_upstream_stopped(
    proxy: InProcess, upstream: RunningServer, tmp_path: Path
) -> None:
    r = proxy
    first = await asyncio.to_thread(push, upstream, "library/app", "latest", [os.urandom(1000)])
    async with r.client(ADMIN) as c:
        assert await _pull(c, "library/app", "latest", ns="docker.io") == first
        await _source(r).settle()
        second = await asyncio.to_thread(
            push, upstream, "library/app", "latest", [os.urandom(1000)]
        )

        async def moved() -> bool:
            got = await c.get(
                "/v2/library/app/manifests/latest", headers=ACCEPT, params={"ns": "docker.io"}
            )
            return bool(got.headers.get("docker-content-digest") == second)

        await until("the moved tag", moved, seconds=10)
        await _source(r).settle()
        assert await r.app.services.store.get_manifest("up/library/app", "latest") is not None
        # the upstream stopped (by PID; the last test of the module): cached content
        # still pulls, with a Warning once the tag TTL lapsed; uncached content fails
        upstream.kill()
        await asyncio.sleep(1.1)  # the tag TTL (1 s) must lapse: that is the behaviour under test
        stale = await c.get("/v2/up/library/app/manifests/latest", headers=ACCEPT)
        assert stale.status_code == 200
        assert stale.headers["warning"].startswith("299 - ")
        missing = await c.get("/v2/up/library/none/manifests/1", headers=ACCEPT)
        assert missing.status_code == 503
        assert "upstream up" in missing.json()["errors"][0]["message"]
