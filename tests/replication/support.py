"""Helpers of the replication tests: the management API of a real server, policies,
and following an execution to its end."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.spec.helpers import OCI_MANIFEST, descriptor, push_blob, put_manifest
from tests.support.server import RunningServer

FINISHED = ("succeeded", "failed", "stopped")
ARTIFACT_TYPE = "application/vnd.example.signature.v1+json"
EMPTY = b"{}"


def api(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/api/v1", auth=server.admin, timeout=60.0)


def add_endpoint(server: RunningServer, name: str, url: str, **extra: Any) -> None:
    with api(server) as c:
        r = c.post("/registries", json={"name": name, "url": url, **extra})
        assert r.status_code == 201, r.text


def add_policy(server: RunningServer, name: str, **body: Any) -> dict[str, Any]:
    with api(server) as c:
        r = c.post("/replication/policies", json={"name": name, **body})
        assert r.status_code == 201, r.text
        return dict(r.json())


def run_policy(server: RunningServer, name: str, *, dry_run: bool = False) -> int:
    with api(server) as c:
        r = c.post(f"/replication/policies/{name}/run", json={"dry_run": dry_run})
        assert r.status_code == 202, r.text
        return int(r.json()["id"])


def execution(server: RunningServer, execution_id: int) -> dict[str, Any]:
    with api(server) as c:
        r = c.get(f"/replication/executions/{execution_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


def items(server: RunningServer, execution_id: int) -> list[dict[str, Any]]:
    with api(server) as c:
        r = c.get(f"/replication/executions/{execution_id}/items", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return list(r.json())


def until(what: str, probe: Callable[[], Any], seconds: float = 60.0) -> Any:
    """Poll `probe` until it gives something truthy (returned), or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling a worker in another process


def finished(server: RunningServer, execution_id: int, seconds: float = 90.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = execution(server, execution_id)
        return found if found["state"] in FINISHED else None

    return dict(until(f"execution {execution_id} to finish", probe, seconds))


def by_reference(found: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["source_repository"], i["reference"]): i for i in found}


def push_signature(client: httpx.Client, repo: str, subject: str, subject_size: int) -> str:
    """An OCI 1.1 artifact whose subject is `subject`, pushed by digest (a signature
    as notation or cosign 2 with referrers would push it); its digest."""
    push_blob(client, repo, EMPTY)
    payload = json.dumps({"signed": subject}).encode()
    push_blob(client, repo, payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor("application/vnd.oci.empty.v1+json", EMPTY),
        "layers": [descriptor("application/vnd.example.payload", payload)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
    }
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    r = put_manifest(client, repo, digest, body)
    assert r.status_code == 201, r.text
    return digest


def upload(client: httpx.Client, repo: str, data: bytes) -> None:
    """POST then PUT ?digest=: the upload every registry takes (the Go registry does
    not complete a monolithic POST)."""
    opened = client.post(f"/v2/{repo}/blobs/uploads/")
    assert opened.status_code == 202, opened.text
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    # the Location carries the upload's own state in its query: add to it, never replace it
    location = httpx.URL(opened.headers["location"]).copy_merge_params({"digest": digest})
    done = client.put(
        location,
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text


def push_cosign_tag(client: httpx.Client, repo: str, subject: str) -> str:
    """A cosign-style `sha256-<hex>.sig` tag for `subject`; its digest."""
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject}}}).encode()
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers"}}).encode()
    upload(client, repo, payload)
    upload(client, repo, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", payload)],
    }
    tag = subject.replace(":", "-") + ".sig"
    r = put_manifest(client, repo, tag, json.dumps(manifest).encode())
    assert r.status_code == 201, r.text
    return str(r.headers["docker-content-digest"])
