"""Retention through the API and with skopeo: a policy's dry run lists exactly what
would go (repository, digest, tags, reason), a run (the retention.run job, on the
server's own worker) deletes those and only those, skopeo can no longer pull them
while the kept ones pull with their digests; immutable tags and recent pulls keep
what they cover; repositories no rule covers are untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lifecycle.retention_support import artifacts, ok, unique, wait_for
from tests.supplychain.helpers import push_artifact
from tests.support import signing
from tests.support.oci_layout import MT_OCI_MANIFEST, build_image
from tests.support.server import RunningServer
from tests.support.tools import CommandFailed, Skopeo

pytestmark = pytest.mark.e2e


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    (err,) = response.json()["errors"]
    assert err["code"] == code, err
    return str(err["message"])


def _job(api: httpx.Client, job_id: int) -> dict[str, Any] | None:
    job: dict[str, Any] = ok(api.get(f"/jobs/{job_id}"))
    return job if job["state"] not in ("queued", "running") else None


def test_dry_run_then_run_removes_what_no_rule_keeps(
    lifecycle_server: RunningServer, admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    project = unique("ret")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    app, other = f"{project}/app", f"{project}/other"
    digests: dict[str, str] = {}
    # pushed in this order: v0 (immutable), v1 (pulled), v2, v3 (newest), dev, untagged
    for tag in ["v0", "v1", "v2", "v3", "dev-1"]:
        img = build_image(tmp_path / tag, "t", layers=[1024], seed=f"{app}-{tag}")
        digests[tag] = skopeo.push_oci(img.layout, "t", app, tag)
    loose = build_image(tmp_path / "loose", "t", layers=[1024], seed=f"{app}-loose")
    digests["loose"] = skopeo.push_oci(loose.layout, "t", app, loose.manifest_digest)
    keep_me = build_image(tmp_path / "o", "t", layers=[1024], seed=f"{other}-x")
    other_digest = skopeo.push_oci(keep_me.layout, "t", other, "old")

    ok(
        admin_api.post(f"/projects/{project}/immutability", json={"repository": app, "tag": "v0"}),
        201,
    )
    skopeo.pull_oci(app, "v1", tmp_path / "pulled", "v1")  # a pull keeps it
    wait_for(
        "the pull of v1 flushed",
        lambda: artifacts(admin_api, app)[digests["v1"]]["pull_count"] == 1,
    )

    policy = {
        "rules": [
            {"repositories": [app], "tags": ["v*"], "keep": "most_recent", "count": 1},
            {"repositories": [app], "keep": "pulled_within_days", "days": 1},
        ]
    }
    assert ok(admin_api.get(f"/projects/{project}/retention")) is None  # none yet
    stored = ok(admin_api.put(f"/projects/{project}/retention", json=policy))
    assert stored["enabled"] is True and stored["updated_by"] == "admin"
    assert stored["rules"][1]["tags"] == ["*"]  # defaults filled in
    assert ok(admin_api.get(f"/projects/{project}/retention"))["rules"] == stored["rules"]

    report = ok(admin_api.post(f"/projects/{project}/retention/dry-run"))
    going = {d["digest"]: d for d in report["removed"]}
    assert set(going) == {digests["v2"], digests["dev-1"], digests["loose"]}
    assert going[digests["v2"]]["tags"] == ["v2"]
    assert going[digests["v2"]]["repository"] == app
    assert "no rule keeps it" in going[digests["loose"]]["reason"]
    staying = {d["digest"]: d["reason"] for d in report["kept"]}
    assert "immutable" in staying[digests["v0"]]
    assert staying[digests["v3"]].startswith("rule 1:")
    assert staying[digests["v1"]].startswith("rule 2:")
    assert other_digest not in staying and other_digest not in going  # no rule covers it
    # a dry run changes nothing
    assert set(artifacts(admin_api, app)) == set(digests.values())

    job_id = ok(admin_api.post(f"/projects/{project}/retention/run"), 202)["job_id"]
    job = wait_for("the retention job", lambda: _job(admin_api, job_id), timeout=60)
    assert job["state"] == "succeeded", job
    (done,) = job["result"]["projects"]
    assert (done["removed"], done["skipped"]) == (3, 0)

    left = artifacts(admin_api, app)
    assert set(left) == {digests["v0"], digests["v1"], digests["v3"]}
    for tag in ("v2", "dev-1"):
        with pytest.raises(CommandFailed):
            skopeo.pull_oci(app, tag, tmp_path / f"gone-{tag}", tag)
    with pytest.raises(CommandFailed):
        skopeo.pull_oci(app, digests["loose"], tmp_path / "gone-loose", "x")
    for tag in ("v0", "v1", "v3"):
        skopeo.pull_oci(app, tag, tmp_path / f"kept-{tag}", tag)
        assert skopeo.inspect_json(skopeo.ref(app, tag))["Digest"] == digests[tag]
    skopeo.pull_oci(other, "old", tmp_path / "kept-other", "old")
    with lifecycle_server.client() as c:
        r = c.get(f"/v2/{app}/manifests/{digests['v2']}", headers={"Accept": MT_OCI_MANIFEST})
        assert r.status_code == 404
    # a second run finds nothing more to do
    again = ok(admin_api.post(f"/projects/{project}/retention/dry-run"))
    assert again["removed"] == []


def test_cosign_signatures_stay_and_go_with_their_image(
    lifecycle_server: RunningServer, admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    """cosign's tag scheme: a signature is a manifest tagged `sha256-<hex>.sig`. A rule
    keeping the newest artifact of every tag keeps the newest image *with* its
    signature (pushed later, it is not the newest artifact in its own right) and
    removes the older image with its signature; the kept signature still pulls."""
    project = unique("sig")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    app = f"{project}/app"
    key = signing.generate_key("p256")
    digests, signatures = {}, {}
    for tag in ["v1", "v2"]:
        img = build_image(tmp_path / tag, "t", layers=[512], seed=f"{app}-{tag}")
        digests[tag] = skopeo.push_oci(img.layout, "t", app, tag)
    with lifecycle_server.client(timeout=60) as registry:
        for tag in ["v1", "v2"]:
            manifest, blobs = signing.cosign_tag_signature(digests[tag], f"reg.test/{app}", key)
            cosign_tag = digests[tag].replace(":", "-") + ".sig"
            signatures[tag] = push_artifact(registry, app, cosign_tag, manifest, blobs)

    policy = {"rules": [{"repositories": [app], "keep": "most_recent", "count": 1}]}
    ok(admin_api.put(f"/projects/{project}/retention", json=policy))
    report = ok(admin_api.post(f"/projects/{project}/retention/dry-run"))
    assert {d["digest"] for d in report["removed"]} == {digests["v1"], signatures["v1"]}
    staying = {d["digest"]: d["reason"] for d in report["kept"]}
    assert set(staying) == {digests["v2"], signatures["v2"]}
    assert staying[signatures["v2"]] == f"needed by kept {digests['v2']}"

    job_id = ok(admin_api.post(f"/projects/{project}/retention/run"), 202)["job_id"]
    job = wait_for("the retention job", lambda: _job(admin_api, job_id), timeout=60)
    assert job["state"] == "succeeded", job
    assert set(artifacts(admin_api, app)) == {digests["v2"], signatures["v2"]}
    kept_tag = digests["v2"].replace(":", "-") + ".sig"
    with lifecycle_server.client() as c:
        r = c.get(f"/v2/{app}/manifests/{kept_tag}", headers={"Accept": MT_OCI_MANIFEST})
        assert r.status_code == 200 and r.headers["docker-content-digest"] == signatures["v2"]


def test_a_dry_run_may_try_a_policy_without_storing_it(
    admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    project = unique("ret")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    repository = f"{project}/app"
    pushed = []
    for tag in ("a", "b"):
        img = build_image(tmp_path / tag, "t", layers=[512], seed=f"{repository}-{tag}")
        pushed.append(skopeo.push_oci(img.layout, "t", repository, tag))
    trial = {"rules": [{"repositories": ["*"], "keep": "most_recent", "count": 1}]}
    report = ok(admin_api.post(f"/projects/{project}/retention/dry-run", json=trial))
    assert [d["digest"] for d in report["removed"]] == [pushed[0]]
    # nothing stored: the stored (absent) policy removes nothing, and a run is refused
    assert ok(admin_api.post(f"/projects/{project}/retention/dry-run"))["removed"] == []
    assert ok(admin_api.get(f"/projects/{project}/retention")) is None  # none yet
    _error(admin_api.post(f"/projects/{project}/retention/run"), 404, "NOT_FOUND")


def test_policies_are_for_project_admins_and_validated(
    lifecycle_server: RunningServer, admin_api: httpx.Client
) -> None:
    project = unique("ret")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    name, password = unique("m"), "maintainer-password"
    ok(admin_api.post("/users", json={"username": name, "password": password}), 201)
    ok(
        admin_api.post(f"/projects/{project}/members", json={"name": name, "role": "maintainer"}),
        201,
    )
    base = f"/projects/{project}/retention"
    good = {"rules": [{"repositories": ["*"], "keep": "always"}]}
    with httpx.Client(
        base_url=lifecycle_server.url + "/api/v1", auth=(name, password), timeout=30
    ) as member:
        _error(member.put(base, json=good), 403, "DENIED")
        _error(member.post(f"{base}/dry-run"), 403, "DENIED")
        _error(member.post(f"{base}/run"), 403, "DENIED")
        ok(admin_api.put(base, json=good))
        assert ok(member.get(base))["rules"][0]["keep"] == "always"  # members may read
        _error(member.delete(base), 403, "DENIED")
    for bad in (
        {"rules": [{"repositories": ["*"], "keep": "most_recent"}]},
        {"rules": [{"repositories": ["*"], "keep": "always", "days": 3}]},
        {"rules": [{"repositories": [], "keep": "always"}]},
        {"rules": [{"repositories": ["*"], "keep": "always"}] * 16},
        {"rules": "all"},
        {"enabled": "yes", "rules": []},
    ):
        _error(admin_api.put(base, json=bad), 422, "INVALID_REQUEST")
    assert ok(admin_api.get(base))["rules"] == [
        {
            "repositories": ["*"],
            "tags": ["*"],
            "exclude_tags": [],
            "untagged": False,
            "keep": "always",
        }
    ]
    ok(admin_api.delete(base), 204)
    _error(admin_api.delete(base), 404, "NOT_FOUND")
