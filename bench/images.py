"""Pushing small synthetic images over the distribution API, for the scripts that need
a registry with content (tiering, ui): the same two requests to any registry (POST,
then PUT with the digest — the Go registry takes no one-request upload)."""

from __future__ import annotations

import hashlib
import json

import httpx

OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(
    c: httpx.Client, repo: str, data: bytes, *, skip_present: bool = False
) -> dict[str, object]:
    """Upload one blob; its descriptor (as a layer)."""
    digest = sha256(data)
    if not skip_present or c.head(f"/v2/{repo}/blobs/{digest}").status_code != 200:
        started = c.post(f"/v2/{repo}/blobs/uploads/").raise_for_status()
        where = httpx.URL(started.headers["Location"]).copy_merge_params({"digest": digest})
        c.put(where, content=data).raise_for_status()
    return {"mediaType": LAYER, "digest": digest, "size": len(data)}


def push_image(
    c: httpx.Client, repo: str, tag: str, layers: list[bytes], *, label: str = ""
) -> str:
    """Push an image of `layers` (blobs already there are not sent again); the manifest
    digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "ref": label or tag}).encode()
    cfg = {**upload(c, repo, config, skip_present=True), "mediaType": CONFIG}
    descriptors = [upload(c, repo, x, skip_present=True) for x in layers]
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI, "config": cfg, "layers": descriptors}
    ).encode()
    c.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI}
    ).raise_for_status()
    return sha256(body)
