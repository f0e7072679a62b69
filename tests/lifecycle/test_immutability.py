"""Tag immutability through the API and with skopeo: a rule's tags cannot be moved
(skopeo fails with the DENIED message naming the rule) nor deleted (by tag, by the
manifest's digest, or with the repository), while re-pushing the same digest, new
tags, and tags no rule covers go through; removing the rule lifts it at once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.lifecycle.retention_support import ok, unique
from tests.support.oci_layout import MT_OCI_MANIFEST, build_image
from tests.support.server import RunningServer
from tests.support.tools import CommandFailed, Skopeo

pytestmark = pytest.mark.e2e


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    (err,) = response.json()["errors"]
    assert err["code"] == code, err
    return str(err["message"])


def test_immutable_tags_cannot_move_or_go(
    lifecycle_server: RunningServer, admin_api: httpx.Client, skopeo: Skopeo, tmp_path: Path
) -> None:
    project = unique("immut")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    repository = f"{project}/api"
    one = build_image(tmp_path / "one", "t", layers=[1024], seed=repository + "1")
    two = build_image(tmp_path / "two", "t", layers=[1024], seed=repository + "2")
    d1 = skopeo.push_oci(one.layout, "t", repository, "v1.0")
    skopeo.push_oci(one.layout, "t", repository, "dev")

    rule = ok(
        admin_api.post(
            f"/projects/{project}/immutability", json={"repository": f"{project}/*", "tag": "v*"}
        ),
        201,
    )
    assert rule["repository"] == f"{project}/*" and rule["tag"] == "v*"
    assert rule["created_by"] == "admin"
    listed = ok(admin_api.get(f"/projects/{project}/immutability"))
    assert [r["id"] for r in listed] == [rule["id"]]
    dup = admin_api.post(
        f"/projects/{project}/immutability", json={"repository": f"{project}/*", "tag": "v*"}
    )
    _error(dup, 409, "CONFLICT")

    # moving v1.0 to another digest: skopeo fails with the rule in the message
    with pytest.raises(CommandFailed) as failed:
        skopeo.push_oci(two.layout, "t", repository, "v1.0")
    assert "immutable" in str(failed.value) and f"immutability rule {rule['id']}" in str(
        failed.value
    )
    assert skopeo.inspect_json(skopeo.ref(repository, "v1.0"))["Digest"] == d1
    # the same digest again is fine; so are a new v-tag and tags no rule covers
    assert skopeo.push_oci(one.layout, "t", repository, "v1.0") == d1
    skopeo.push_oci(two.layout, "t", repository, "v2.0")
    skopeo.push_oci(two.layout, "t", repository, "dev")  # moved: not covered

    with lifecycle_server.client() as c:
        accept = {"Accept": MT_OCI_MANIFEST}
        # delete by tag, by digest (it would take v1.0 with it), the repository
        message = _error(c.delete(f"/v2/{repository}/manifests/v1.0"), 403, "DENIED")
        assert "cannot be deleted" in message and f"rule {rule['id']}" in message
        _error(c.delete(f"/v2/{repository}/manifests/{d1}"), 403, "DENIED")
        # a raw PUT moving the tag: DENIED, the tag unchanged
        moved = c.put(
            f"/v2/{repository}/manifests/v1.0",
            content=two.manifest_bytes,
            headers={"Content-Type": MT_OCI_MANIFEST},
        )
        assert "cannot be moved" in _error(moved, 403, "DENIED")
        r = c.get(f"/v2/{repository}/manifests/v1.0", headers=accept)
        assert r.headers["docker-content-digest"] == d1
    path = repository.split("/", 1)[1]
    base = f"/projects/{project}/repositories/{path}"
    _error(admin_api.delete(f"{base}/-/tags/v1.0"), 403, "DENIED")
    _error(admin_api.delete(base), 403, "DENIED")
    ok(admin_api.delete(f"{base}/-/tags/dev"), 204)  # not covered

    # the rule gone, the tag moves and goes again
    ok(admin_api.delete(f"/projects/{project}/immutability/{rule['id']}"), 204)
    _error(admin_api.delete(f"/projects/{project}/immutability/{rule['id']}"), 404, "NOT_FOUND")
    skopeo.push_oci(two.layout, "t", repository, "v1.0")
    ok(admin_api.delete(f"{base}/-/tags/v1.0"), 204)


def test_rules_are_for_project_admins_and_validated(
    lifecycle_server: RunningServer, admin_api: httpx.Client
) -> None:
    project = unique("immut")
    ok(admin_api.post("/projects", json={"name": project}), 201)
    name, password = unique("dev"), "developer-password"
    ok(admin_api.post("/users", json={"username": name, "password": password}), 201)
    ok(
        admin_api.post(f"/projects/{project}/members", json={"name": name, "role": "developer"}),
        201,
    )
    rules = f"/projects/{project}/immutability"
    body = {"repository": "*", "tag": "*"}
    with httpx.Client(
        base_url=lifecycle_server.url + "/api/v1", auth=(name, password), timeout=30
    ) as dev:
        assert ok(dev.get(rules)) == []  # members may read
        _error(dev.post(rules, json=body), 403, "DENIED")
    with httpx.Client(base_url=lifecycle_server.url + "/api/v1", timeout=30) as anon:
        _error(anon.get(rules), 401, "UNAUTHORIZED")
    _error(admin_api.get(f"/projects/{unique('nope')}/immutability"), 404, "NOT_FOUND")
    for bad in (
        {"repository": "Upper/*", "tag": "v*"},
        {"repository": "*", "tag": "v 1"},
        {"repository": "*"},
        {"repository": "*", "tag": "v*", "extra": 1},
    ):
        _error(admin_api.post(rules, json=bad), 422, "INVALID_REQUEST")
    assert ok(admin_api.get(rules)) == []
