"""Small builders for spec tests: blobs, manifests, indexes, pushes over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique_repo(prefix: str = "spec") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image(
    client: httpx.Client,
    repo: str,
    *,
    layers: int = 1,
    media_type: str = OCI_MANIFEST,
    config: bytes | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Push config + layers; return (manifest bytes, manifest dict) without pushing it."""
    docker = media_type == DOCKER_MANIFEST
    config = (
        config
        if config is not None
        else json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "nonce": uuid.uuid4().hex,
            }
        ).encode()
    )
    push_blob(client, repo, config)
    layer_descs = []
    for _ in range(layers):
        data = os.urandom(1024)
        push_blob(client, repo, data)
        layer_descs.append(descriptor(DOCKER_LAYER if docker else OCI_LAYER, data))
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": layer_descs,
        **(extra or {}),
    }
    return json.dumps(manifest).encode(), manifest


def put_manifest(
    client: httpx.Client, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST
) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
    )


def push_image(client: httpx.Client, repo: str, tag: str, **kw: Any) -> tuple[str, bytes]:
    media_type = kw.get("media_type", OCI_MANIFEST)
    body, _ = image(client, repo, **kw)
    r = put_manifest(client, repo, tag, body, media_type)
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"], body


def error_codes(response: httpx.Response) -> list[str]:
    body = response.json()
    assert isinstance(body.get("errors"), list) and body["errors"], body
    for err in body["errors"]:
        assert isinstance(err["message"], str)
    return [err["code"] for err in body["errors"]]
