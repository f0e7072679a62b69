"""HttpRemote against real registries: a Dockyard server (Docker token auth), the Go
registry open and with htpasswd basic auth; a lying, a rate-limiting and a breaking
remote from tests/remote/fakes.py (small http.server threads on loopback)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.remote import (
    Endpoint,
    RemoteDenied,
    RemoteError,
    RemoteNotFound,
    RemoteRateLimited,
    RemoteUnavailable,
)
from dockyard.remote.client import HttpRemote
from tests.remote import fakes
from tests.support.go_registry import go_registry
from tests.support.server import free_port, run_server

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Target:
    kind: str
    endpoint: Endpoint


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return _digest(self.manifest)


def make_image(seed: str, layer_size: int = 3 * 1024 * 1024 + 17) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = os.urandom(layer_size)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": MT_LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
    ).encode()
    return Image(config, layer, manifest)


@pytest.fixture(scope="module")
def dockyard_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("dockyard-remote")
    with run_server(base / "data", workers=1) as server:
        user, password = server.admin
        yield Target(
            "dockyard",
            Endpoint("up", server.url, kind="dockyard", username=user, secret=password),
        )


@pytest.fixture(scope="module")
def go_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with go_registry(tmp_path_factory.mktemp("go-open")) as registry:
        yield Target("go", Endpoint("go", registry.url))


@pytest.fixture(scope="module")
def go_basic_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with go_registry(tmp_path_factory.mktemp("go-basic"), htpasswd=("alice", "s3cret!")) as reg:
        yield Target("go-basic", Endpoint("gob", reg.url, username="alice", secret="s3cret!"))


@pytest.fixture(params=["dockyard", "go", "go-basic"])
def target(request: pytest.FixtureRequest) -> Target:
    name = {"dockyard": "dockyard_target", "go": "go_target", "go-basic": "go_basic_target"}
    return request.getfixturevalue(name[request.param])  # type: ignore[no-any-return]


@pytest.fixture
async def remote(target: Target) -> AsyncIterator[HttpRemote]:
    client = HttpRemote(target.endpoint, timeout=30.0, page_size=50)
    yield client
    await client.close()


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def push_image(remote: HttpRemote, repository: str, image: Image, tag: str) -> None:
    for blob in (image.config, image.layer):
        if await remote.head_blob(repository, _digest(blob)) is None:
            await remote.push_blob(repository, _digest(blob), len(blob), _chunks(blob))
    answered = await remote.put_manifest(repository, tag, MT_MANIFEST, image.manifest)
    assert answered == image.digest


async def test_ping(remote: HttpRemote) -> None:
    health = await remote.ping()
    assert health.reachable and health.status == 200, health
    assert health.latency_ms > 0


async def test_image_round_trip(remote: HttpRemote, target: Target) -> None:
    repo = f"proj/rt-{target.kind}"
    image = make_image(f"rt-{target.kind}")
    await push_image(remote, repo, image, "v1")

    head = await remote.head_manifest(repo, "v1")
    assert head is not None
    assert (head.digest, head.media_type, head.size) == (
        image.digest,
        MT_MANIFEST,
        len(image.manifest),
    )
    got = await remote.get_manifest(repo, "v1")
    assert (got.digest, got.content, got.media_type) == (image.digest, image.manifest, MT_MANIFEST)
    assert (await remote.get_manifest(repo, image.digest)).content == image.manifest

    assert await remote.head_blob(repo, _digest(image.layer)) == len(image.layer)
    received = bytearray()
    async with remote.get_blob(repo, _digest(image.layer)) as blob:
        assert blob.size == len(image.layer)
        async for chunk in blob.chunks():
            received += chunk
    assert bytes(received) == image.layer


async def test_missing_things(remote: HttpRemote, target: Target) -> None:
    repo = f"proj/missing-{target.kind}"
    assert await remote.head_manifest(repo, "nope") is None
    with pytest.raises(RemoteNotFound):
        await remote.get_manifest(repo, "nope")
    absent = _digest(b"absent " + target.kind.encode())
    assert await remote.head_blob(repo, absent) is None
    with pytest.raises(RemoteNotFound):
        async with remote.get_blob(repo, absent) as blob:
            async for _ in blob.chunks():
                pass
    assert await remote.delete_manifest(repo, absent) is False


async def test_mount(remote: HttpRemote, target: Target) -> None:
    source, dest = f"proj/mount-src-{target.kind}", f"proj/mount-dst-{target.kind}"
    image = make_image(f"mount-{target.kind}", layer_size=4096)
    await push_image(remote, source, image, "v1")
    assert await remote.mount_blob(dest, _digest(image.layer), source) is True
    assert await remote.head_blob(dest, _digest(image.layer)) == len(image.layer)
    # a blob the source lacks: the remote opens an upload instead, which is cancelled
    assert await remote.mount_blob(dest, _digest(b"not there"), source) is False


async def test_tags_paging_and_catalog(remote: HttpRemote, target: Target) -> None:
    repo = f"proj/tags-{target.kind}"
    image = make_image(f"tags-{target.kind}", layer_size=1024)
    await push_image(remote, repo, image, "t0")
    names = [f"t{i}" for i in range(1, 121)]  # three pages of n=50
    for name in names:
        await remote.put_manifest(repo, name, MT_MANIFEST, image.manifest)
    assert sorted(await remote.tags(repo)) == sorted(["t0", *names])
    assert repo in await remote.repositories()
    assert repo in await remote.repositories("proj")
    assert all(n.startswith("proj/") for n in await remote.repositories("proj"))


async def test_delete(remote: HttpRemote, target: Target) -> None:
    repo = f"proj/del-{target.kind}"
    image = make_image(f"del-{target.kind}", layer_size=1024)
    await push_image(remote, repo, image, "v1")
    assert await remote.delete_manifest(repo, image.digest) is True
    assert await remote.head_manifest(repo, image.digest) is None
    assert await remote.delete_manifest(repo, image.digest) is False


async def test_referrers(remote: HttpRemote, target: Target) -> None:
    repo = f"proj/refs-{target.kind}"
    image = make_image(f"refs-{target.kind}", layer_size=1024)
    await push_image(remote, repo, image, "v1")
    assert await remote.referrers(repo, image.digest) == []
    empty = b"{}"
    await remote.push_blob(repo, _digest(empty), len(empty), _chunks(empty))
    signature = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "artifactType": "application/vnd.example.sig",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": _digest(empty),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": _digest(empty),
                    "size": 2,
                }
            ],
            "subject": {
                "mediaType": MT_MANIFEST,
                "digest": image.digest,
                "size": len(image.manifest),
            },
            "annotations": {"org.example": "yes"},
        }
    ).encode()
    await remote.put_manifest(repo, _digest(signature), MT_MANIFEST, signature)
    if target.kind != "dockyard":
        # the Go registry has no referrers API: a client keeps the tag schema's index
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MT_INDEX,
                "manifests": [
                    {
                        "mediaType": MT_MANIFEST,
                        "digest": _digest(signature),
                        "size": len(signature),
                        "artifactType": "application/vnd.example.sig",
                        "annotations": {"org.example": "yes"},
                    }
                ],
            }
        ).encode()
        await remote.put_manifest(repo, image.digest.replace(":", "-"), MT_INDEX, index)
    found = await remote.referrers(repo, image.digest)
    assert [(r.digest, r.artifact_type, r.annotations) for r in found] == [
        (_digest(signature), "application/vnd.example.sig", {"org.example": "yes"})
    ]


async def test_bad_credentials(target: Target) -> None:
    if target.kind == "go":
        pytest.skip("an open registry takes anyone")
    endpoint = Endpoint(
        "bad",
        target.endpoint.url,
        kind=target.endpoint.kind,
        username=target.endpoint.username,
        secret="wrong-password",
    )
    client = HttpRemote(endpoint)
    try:
        health = await client.ping()
        assert health.reachable and health.status == 401, health
        assert "wrong-password" not in health.message
        with pytest.raises(RemoteDenied) as caught:
            await client.get_manifest("proj/anything", "v1")
        assert "wrong-password" not in str(caught.value)
    finally:
        await client.close()


async def test_unreachable() -> None:
    client = HttpRemote(Endpoint("gone", f"http://127.0.0.1:{free_port()}", secret="pw-123"))
    try:
        health = await client.ping()
        assert not health.reachable and health.status is None
        with pytest.raises(RemoteUnavailable) as caught:
            await client.get_manifest("a/b", "v1")
        message = str(caught.value)
        assert "gone" in message and "GET manifest" in message and "pw-123" not in message
    finally:
        await client.close()


async def test_lying_remote() -> None:
    with fakes.serve(fakes.LyingHandler) as url:
        client = HttpRemote(Endpoint("liar", url))
        try:
            with pytest.raises(RemoteError, match="hash to"):
                await client.get_manifest("a/b", fakes.CLAIMED)
            with pytest.raises(RemoteError, match="Docker-Content-Digest"):
                await client.get_manifest("a/b", "v1")
            with pytest.raises(RemoteError, match="limit"):
                await client.get_manifest("a/b", "huge")
            with pytest.raises(RemoteUnavailable, match=r"broke off|of 1000000 bytes"):
                async with client.get_blob("a/b", fakes.CLAIMED) as blob:
                    async for _ in blob.chunks():
                        pass
        finally:
            await client.close()


async def test_rate_limited() -> None:
    with fakes.serve(fakes.RateLimitHandler) as url:
        client = HttpRemote(Endpoint("hub", url))
        try:
            assert await client.head_manifest("a/b", "ok") is not None
            assert (client.rate_limit.limit, client.rate_limit.remaining) == (100, 7)
            with pytest.raises(RemoteRateLimited) as caught:
                await client.get_manifest("a/b", "seconds")
            assert caught.value.retry_after == 42.0 and caught.value.status == 429
            assert client.rate_limit.retry_after == 42.0 and client.rate_limit.remaining == 0
            with pytest.raises(RemoteRateLimited) as caught:
                await client.get_manifest("a/b", "date")
            assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120
        finally:
            await client.close()


async def test_docker_hub_naming(tmp_path: Path) -> None:
    from dockyard.remote.naming import api_url, remote_name

    hub = Endpoint("hub", "https://docker.io")
    assert api_url(hub) == "https://registry-1.docker.io"
    assert remote_name(hub, "nginx") == "library/nginx"
    assert remote_name(hub, "bitnami/nginx") == "bitnami/nginx"
    other = Endpoint("q", "https://quay.io", kind="quay")
    assert (api_url(other), remote_name(other, "nginx")) == ("https://quay.io", "nginx")


async def test_redirect_gets_no_credentials() -> None:
    fakes.Recorder.seen = []
    with fakes.serve(fakes.Recorder) as storage, fakes.serve(fakes.redirector(storage)) as url:
        client = HttpRemote(Endpoint("r", url, username="u", secret="hunter2"))
        try:
            received = bytearray()
            async with client.get_blob("a/b", _digest(fakes.BLOB)) as blob:
                async for chunk in blob.chunks():
                    received += chunk
        finally:
            await client.close()
    assert bytes(received) == fakes.BLOB
    assert fakes.Recorder.seen == [None]
