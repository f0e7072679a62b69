"""Pushing small images with httpx (in process or against a real server), and
reading what the store holds, for the GC and fsck tests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Pushed:
    repository: str
    reference: str
    digest: str
    blobs: tuple[str, ...]
    """config and layers"""
    sizes: tuple[int, ...]


def image_manifest(
    config: bytes, layers: list[bytes], subject: tuple[str, int] | None = None
) -> bytes:
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)} for x in layers
        ],
    }
    if subject is not None:
        body["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]}
        body["artifactType"] = "application/vnd.example.sig"
    return json.dumps(body, separators=(",", ":")).encode()


async def push_blob(client: httpx.AsyncClient, repository: str, data: bytes) -> str:
    d = digest_of(data)
    r = await client.post(f"/v2/{repository}/blobs/uploads/", params={"digest": d}, content=data)
    assert r.status_code == 201, r.text
    return d


async def push_image(
    client: httpx.AsyncClient,
    repository: str,
    reference: str,
    layers: list[bytes],
    *,
    subject: tuple[str, int] | None = None,
) -> Pushed:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode()
    for blob in (config, *layers):
        await push_blob(client, repository, blob)
    manifest = image_manifest(config, layers, subject)
    r = await client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    blobs = (config, *layers)
    return Pushed(
        repository,
        reference,
        digest_of(manifest),
        tuple(digest_of(x) for x in blobs),
        tuple(len(x) for x in blobs),
    )


async def push_index(
    client: httpx.AsyncClient, repository: str, reference: str, children: list[Pushed]
) -> str:
    sizes = []
    for child in children:
        r = await client.get(
            f"/v2/{repository}/manifests/{child.digest}", headers={"Accept": OCI_MANIFEST}
        )
        assert r.status_code == 200
        sizes.append(len(r.content))
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": c.digest,
                "size": n,
                "platform": {"architecture": f"arch{i}", "os": "linux"},
            }
            for i, (c, n) in enumerate(zip(children, sizes, strict=True))
        ],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    r = await client.put(
        f"/v2/{repository}/manifests/{reference}", content=data, headers={"Content-Type": OCI_INDEX}
    )
    assert r.status_code == 201, r.text
    return digest_of(data)


# -- the same against a real server (sync: the token auth of tests/support is sync) --


def push_blob_sync(client: httpx.Client, repository: str, data: bytes) -> str:
    d = digest_of(data)
    r = client.post(f"/v2/{repository}/blobs/uploads/", params={"digest": d}, content=data)
    r.raise_for_status()
    return d


def push_image_sync(
    client: httpx.Client, repository: str, reference: str, layers: list[bytes]
) -> Pushed:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode()
    for blob in (config, *layers):
        push_blob_sync(client, repository, blob)
    manifest = image_manifest(config, layers)
    r = client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    r.raise_for_status()
    blobs = (config, *layers)
    return Pushed(
        repository,
        reference,
        digest_of(manifest),
        tuple(digest_of(x) for x in blobs),
        tuple(len(x) for x in blobs),
    )


def pull_sync(client: httpx.Client, image: Pushed) -> None:
    r = client.get(f"/v2/{image.repository}/manifests/{image.reference}")
    r.raise_for_status()
    assert digest_of(r.content) == image.digest
    for digest in image.blobs:
        r = client.get(f"/v2/{image.repository}/blobs/{digest}")
        r.raise_for_status()
        assert digest_of(r.content) == digest
