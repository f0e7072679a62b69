"""Per-project quotas (each blob counted once per project, refusals leave nothing
behind) and the audit trail of registry traffic and changes."""

from __future__ import annotations

import os
import uuid

import httpx

from tests.access.conftest import World, api_ok
from tests.spec.helpers import image, sha256


def _blob_stored(world: World, digest: str) -> bool:
    encoded = digest.split(":", 1)[1]
    return (world.server.data_dir / "storage" / "blobs" / "sha256" / encoded[:2] / encoded).exists()


def _usage(world: World, project: str) -> int:
    got = api_ok(world.admin.get(f"/api/v1/projects/{project}/quota"))
    return int(got["used_bytes"])


def test_quota_counts_each_blob_once_and_refuses_cleanly(world: World) -> None:
    project = f"quota{uuid.uuid4().hex[:6]}"
    api_ok(world.admin.post("/api/v1/projects", json={"name": project, "public": False}), 201)
    api_ok(world.admin.put(f"/api/v1/projects/{project}/quota", json={"quota_bytes": 100_000}))
    shared = os.urandom(60_000)
    with world.server.client(world.server.admin) as reg:
        d1 = sha256(shared)
        for repo in (f"{project}/a", f"{project}/b"):
            r = reg.post(f"/v2/{repo}/blobs/uploads/", params={"digest": d1}, content=shared)
            assert r.status_code == 201, r.text
        assert _usage(world, project) == 60_000  # the same blob in two repositories: once
        # a cross-repository mount of it costs nothing either
        r = reg.post(
            f"/v2/{project}/c/blobs/uploads/", params={"mount": d1, "from": f"{project}/a"}
        )
        assert r.status_code == 201
        assert _usage(world, project) == 60_000

        # monolithic push over the quota: DENIED naming the quota, nothing kept
        big = os.urandom(50_000)
        d2 = sha256(big)
        r = reg.post(f"/v2/{project}/a/blobs/uploads/", params={"digest": d2}, content=big)
        assert r.status_code == 403, r.text
        err = r.json()["errors"][0]
        assert err["code"] == "DENIED" and "quota" in err["message"] and project in err["message"]
        assert err["detail"]["quota_bytes"] == 100_000
        assert not _blob_stored(world, d2)
        assert reg.head(f"/v2/{project}/a/blobs/{d2}").status_code == 404

        # chunked push over the quota: refused at the final PUT, the session is gone
        loc = reg.post(f"/v2/{project}/a/blobs/uploads/").headers["Location"]
        r = reg.patch(loc, content=big, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 202
        r = reg.put(r.headers["Location"], params={"digest": d2})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
        assert reg.get(loc).status_code == 404
        assert not _blob_stored(world, d2)
        assert _usage(world, project) == 60_000

        # a manifest needing a blob the quota refused cannot be pushed either
        raw, doc = image(reg, f"{project}/small")  # small blobs still fit
        assert (
            reg.put(
                f"/v2/{project}/small/manifests/v1",
                content=raw,
                headers={"Content-Type": doc["mediaType"]},
            ).status_code
            == 201
        )

        # deleting the shared blob everywhere gives its bytes back
        before = _usage(world, project)
        for repo in (f"{project}/a", f"{project}/b", f"{project}/c"):
            assert reg.delete(f"/v2/{repo}/blobs/{d1}").status_code == 202
        assert _usage(world, project) == before - 60_000

    # usage visible on the project too
    got = api_ok(world.admin.get(f"/api/v1/projects/{project}"))
    assert got["quota_bytes"] == 100_000 and got["used_bytes"] == before - 60_000


def test_only_a_system_admin_sets_quotas(world: World) -> None:
    with httpx.Client(base_url=world.server.url, auth=world.users["project_admin"]) as pa:
        r = pa.put("/api/v1/projects/priv/quota", json={"quota_bytes": 1})
        assert r.status_code == 403, r.text


def test_audit_records_pushes_pulls_deletes_and_changes(world: World) -> None:
    dev = world.users["developer"]
    tag = f"audit-{uuid.uuid4().hex[:6]}"
    with world.server.client(dev) as reg:
        raw, doc = image(reg, "priv/audited")
        r = reg.put(
            f"/v2/priv/audited/manifests/{tag}",
            content=raw,
            headers={"Content-Type": doc["mediaType"]},
        )
        assert r.status_code == 201
        for _ in range(3):
            assert (
                reg.get(
                    f"/v2/priv/audited/manifests/{tag}", headers={"Accept": doc["mediaType"]}
                ).status_code
                == 200
            )
    with world.server.client(world.server.admin) as reg:
        assert reg.delete(f"/v2/priv/audited/manifests/{tag}").status_code == 202
    name = f"member{uuid.uuid4().hex[:6]}"
    api_ok(
        world.admin.post("/api/v1/users", json={"username": name, "password": "pw-123456789"}), 201
    )
    added = api_ok(
        world.admin.post(
            "/api/v1/projects/priv/members",
            json={"kind": "user", "name": name, "role": "guest", "repositories": None},
        ),
        201,
    )

    def entries(**filters: str) -> list[dict]:  # type: ignore[type-arg]
        # registry traffic is written within a second: poll for it, bounded
        import time

        deadline = time.monotonic() + 10
        while True:
            got = api_ok(world.admin.get("/api/v1/audit-logs", params=filters))
            if got or time.monotonic() > deadline:
                return got  # type: ignore[no-any-return]
            time.sleep(0.1)

    resource = f"priv/audited:{tag}"
    pushes = entries(actor=dev[0], action="push", resource=resource)
    assert len(pushes) == 1 and pushes[0]["project"] == "priv" and pushes[0]["address"]
    pulls = entries(actor=dev[0], action="pull", resource=resource)
    assert sum((e.get("detail") or {}).get("count", 1) for e in pulls) == 3
    deletes = entries(actor="admin", action="delete", resource=resource)
    assert len(deletes) == 1
    changes = entries(project="priv", resource="priv/members")
    assert any(added["id"] == (e.get("detail") or {}).get("id") or name in str(e) for e in changes)
    # a project's own log is readable by its guest, not by an outsider
    with httpx.Client(base_url=world.server.url, auth=world.users["guest"]) as guest:
        assert guest.get("/api/v1/projects/priv/audit-logs").status_code == 200
    with httpx.Client(base_url=world.server.url, auth=world.users["outsider"]) as out:
        assert out.get("/api/v1/projects/priv/audit-logs").status_code in (403, 404)
        assert out.get("/api/v1/audit-logs").status_code == 403
