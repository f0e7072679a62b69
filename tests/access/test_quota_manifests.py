"""Manifest bytes count against the project quota: once per digest per project, refused
with the blob quota's DENIED, given back when the project's last copy goes."""

from __future__ import annotations

import json
import os
import uuid

import httpx

from tests.spec.helpers import OCI_MANIFEST, image, sha256
from tests.support.server import RunningServer

QUOTA = 64 * 1024


def _usage(admin: httpx.Client, project: str) -> int:
    r = admin.get(f"/api/v1/projects/{project}/quota")
    assert r.status_code == 200, r.text
    return int(r.json()["used_bytes"])


def _manifest(doc: dict, n: int) -> bytes:  # type: ignore[type-arg]
    """A distinct manifest of about 8 KiB over the same config and layer."""
    body = {**doc, "annotations": {"n": str(n), "pad": "x" * 8000}}
    return json.dumps(body).encode()


def _put(reg: httpx.Client, repo: str, ref: str, raw: bytes) -> httpx.Response:
    return reg.put(
        f"/v2/{repo}/manifests/{ref}", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )


def test_manifest_bytes_count_against_the_quota(server: RunningServer) -> None:
    project = f"mq{uuid.uuid4().hex[:8]}"
    repo, other = f"{project}/a", f"{project}/b"
    with server.client(server.admin) as admin, server.client(server.admin) as reg:
        r = admin.post("/api/v1/projects", json={"name": project, "public": False})
        assert r.status_code == 201, r.text
        r = admin.put(f"/api/v1/projects/{project}/quota", json={"quota_bytes": QUOTA})
        assert r.status_code == 200, r.text
        _, doc = image(reg, repo)  # config and one 1 KiB layer
        blobs = _usage(admin, project)
        assert 0 < blobs < 4096

        stored: list[bytes] = []
        refused: httpx.Response | None = None
        for n in range(20):  # 20 x 8 KiB would be far past 64 KiB
            raw = _manifest(doc, n)
            r = _put(reg, repo, f"v{n}", raw)
            if r.status_code != 201:
                refused = r
                break
            stored.append(raw)
        assert refused is not None, "manifests were stored past the quota"
        assert refused.status_code == 403, refused.text
        err = refused.json()["errors"][0]
        assert err["code"] == "DENIED" and "quota" in err["message"] and project in err["message"]
        assert err["detail"]["quota_bytes"] == QUOTA
        assert len(stored) >= 5
        used = _usage(admin, project)
        assert used == blobs + sum(len(raw) for raw in stored)
        assert used <= QUOTA
        # the refused manifest and its tag were not kept
        assert reg.get(f"/v2/{repo}/manifests/v{len(stored)}").status_code == 404
        refused_digest = sha256(_manifest(doc, len(stored)))
        assert reg.get(f"/v2/{repo}/manifests/{refused_digest}").status_code == 404

        # once per digest per project: another tag, or the same manifest in a second
        # repository of the project, costs nothing more
        first = stored[0]
        digest = sha256(first)
        assert _put(reg, repo, "again", first).status_code == 201
        for d in (doc["config"], *doc["layers"]):
            r = reg.post(f"/v2/{other}/blobs/uploads/", params={"mount": d["digest"], "from": repo})
            assert r.status_code == 201, r.text
        assert _put(reg, other, digest, first).status_code == 201
        assert _usage(admin, project) == used

        # given back only when the last copy in the project goes
        assert reg.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
        assert _usage(admin, project) == used
        assert reg.delete(f"/v2/{other}/manifests/{digest}").status_code == 202
        assert _usage(admin, project) == used - len(first)
        # and the room is usable again
        assert _put(reg, repo, "after", _manifest(doc, 100)).status_code == 201

        # deleting the repository gives back the manifests only it held; the blobs stay
        # charged, the other repository links them
        r = admin.delete(f"/api/v1/projects/{project}/repositories/a")
        assert r.status_code == 204, r.text
        assert _usage(admin, project) == blobs


def test_a_last_chunk_over_the_quota_is_refused_with_nothing_kept(server: RunningServer) -> None:
    """POST, then one PUT carrying the whole body (what docker does for small blobs):
    the quota is checked when the PUT takes the upload, before its body is stored."""
    project = f"mq{uuid.uuid4().hex[:8]}"
    repo = f"{project}/a"
    with server.client(server.admin) as admin, server.client(server.admin) as reg:
        assert admin.post("/api/v1/projects", json={"name": project}).status_code == 201
        r = admin.put(f"/api/v1/projects/{project}/quota", json={"quota_bytes": 10_000})
        assert r.status_code == 200, r.text
        fits, too_big = os.urandom(6_000), os.urandom(6_000)
        for data, status in ((fits, 201), (too_big, 403)):
            loc = reg.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
            r = reg.put(
                loc,
                params={"digest": sha256(data)},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == status, r.text
        assert r.json()["errors"][0]["code"] == "DENIED"
        assert reg.get(loc).status_code == 404  # the session is gone
        assert reg.head(f"/v2/{repo}/blobs/{sha256(too_big)}").status_code == 404
        assert reg.head(f"/v2/{repo}/blobs/{sha256(fits)}").status_code == 200
        assert _usage(admin, project) == 6_000
