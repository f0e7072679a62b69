"""Pushing images and signature artifacts over the distribution API, and asking the
registry what it lets through."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX])


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str
    size: int
    media_type: str = OCI_MANIFEST


def put_blob(client: httpx.Client, repository: str, data: bytes) -> str:
    d = digest_of(data)
    r = client.post(f"/v2/{repository}/blobs/uploads/", params={"digest": d}, content=data)
    assert r.status_code == 201, r.text
    return d


def put_manifest(
    client: httpx.Client, repository: str, reference: str, manifest: bytes, media_type: str
) -> str:
    r = client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": media_type},
    )
    assert r.status_code == 201, r.text
    return digest_of(manifest)


def push_image(
    client: httpx.Client,
    repository: str,
    tag: str,
    layers: list[bytes] | None = None,
    layer_type: str = GZIP_LAYER,
) -> Image:
    layers = layers if layers is not None else [os.urandom(64)]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "n": os.urandom(4).hex(),
        }
    ).encode()
    for blob in (config, *layers):
        put_blob(client, repository, blob)
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": digest_of(x), "size": len(x)} for x in layers
        ],
    }
    manifest = json.dumps(body, separators=(",", ":")).encode()
    digest = put_manifest(client, repository, tag, manifest, OCI_MANIFEST)
    return Image(repository, tag, digest, len(manifest))


def push_index(client: httpx.Client, repository: str, tag: str, children: list[Image]) -> Image:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": c.media_type,
                "digest": c.digest,
                "size": c.size,
                "platform": {"architecture": arch, "os": "linux"},
            }
            for c, arch in zip(children, ["amd64", "arm64", "s390x"], strict=False)
        ],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    digest = put_manifest(client, repository, tag, data, OCI_INDEX)
    return Image(repository, tag, digest, len(data), OCI_INDEX)


def push_artifact(
    client: httpx.Client,
    repository: str,
    reference: str | None,
    manifest: bytes,
    blobs: Mapping[str, bytes],
) -> str:
    """Push a signature (or any artifact) made by tests/support/signing.py: its blobs,
    then its manifest by `reference` (a tag) or by its digest."""
    for digest, data in blobs.items():
        assert digest_of(data) == digest
        put_blob(client, repository, data)
    media_type = json.loads(manifest).get("mediaType", OCI_MANIFEST)
    return put_manifest(client, repository, reference or digest_of(manifest), manifest, media_type)


def pull(client: httpx.Client, repository: str, reference: str) -> httpx.Response:
    return client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})


def denied_message(response: httpx.Response) -> str:
    assert response.status_code == 403, f"{response.status_code} {response.text}"
    errors = response.json()["errors"]
    assert errors[0]["code"] == "DENIED", errors
    return str(errors[0]["message"])
