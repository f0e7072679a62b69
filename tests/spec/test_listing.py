"""Tag list, catalog and referrers."""

from __future__ import annotations

import json
import os
import uuid

import httpx

from tests.spec.helpers import (
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image,
    push_blob,
    push_image,
    put_manifest,
    unique_repo,
)


def test_tags_list_sorted_and_paginated(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo)
    tags = ["b", "a", "C", "latest", "1.0", "z_last", "A-first"]
    for tag in tags:
        assert put_manifest(client, repo, tag, body).status_code == 201
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": sorted(tags)}
    assert "Link" not in r.headers
    seen: list[str] = []
    url = f"/v2/{repo}/tags/list?n=3"
    pages = 0
    while url:
        r = client.get(url)
        page = r.json()["tags"]
        assert len(page) <= 3
        seen += page
        pages += 1
        link = r.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
        assert pages < 10
    assert seen == sorted(tags)
    r = client.get(f"/v2/{repo}/tags/list", params={"last": "b"})
    assert r.json()["tags"] == [t for t in sorted(tags) if t > "b"]
    r = client.get(f"/v2/{repo}/tags/list", params={"n": "0"})
    assert r.json()["tags"] == []


def test_tags_unknown_repository(client: httpx.Client) -> None:
    r = client.get(f"/v2/{unique_repo()}/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


def test_catalog(client: httpx.Client) -> None:
    prefix = f"cat{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}/r{i}" for i in range(5)]
    for name in names:
        push_blob(client, name, os.urandom(8))
    r = client.get("/v2/_catalog")
    assert r.status_code == 200
    repos = r.json()["repositories"]
    assert repos == sorted(repos)
    assert set(names) <= set(repos)
    r = client.get("/v2/_catalog", params={"n": 2, "last": f"{prefix}/r0"})
    assert r.json()["repositories"] == [f"{prefix}/r1", f"{prefix}/r2"]
    assert r.headers["Link"].startswith("</v2/_catalog?n=2&last=")
    assert client.get("/v2/_catalog", params={"n": "-1"}).status_code == 400


def _referrer(
    client: httpx.Client,
    repo: str,
    subject: dict,
    artifact_type: str,
    annotations: dict | None = None,
) -> tuple[httpx.Response, bytes]:
    push_blob(client, repo, b"{}")
    payload = os.urandom(64)
    push_blob(client, repo, payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, b"{}"),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": subject,
    }
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest).encode()
    return put_manifest(client, repo, f"ref-{uuid.uuid4().hex[:8]}", body), body


def test_referrers(client: httpx.Client) -> None:
    repo = unique_repo()
    digest, body = push_image(client, repo, "v1")
    subject = descriptor(OCI_MANIFEST, body)
    r1, b1 = _referrer(
        client, repo, subject, "application/vnd.example.sig", {"org.example.signed-by": "ci"}
    )
    assert r1.status_code == 201
    assert r1.headers["OCI-Subject"] == digest
    r2, _b2 = _referrer(client, repo, subject, "application/vnd.example.sbom")
    assert r2.status_code == 201

    r = client.get(f"/v2/{repo}/referrers/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {
        r1.headers["Docker-Content-Digest"],
        r2.headers["Docker-Content-Digest"],
    }
    sig = by_digest[r1.headers["Docker-Content-Digest"]]
    assert sig == {
        "mediaType": OCI_MANIFEST,
        "digest": r1.headers["Docker-Content-Digest"],
        "size": len(b1),
        "artifactType": "application/vnd.example.sig",
        "annotations": {"org.example.signed-by": "ci"},
    }
    assert "OCI-Filters-Applied" not in r.headers

    r = client.get(
        f"/v2/{repo}/referrers/{digest}", params={"artifactType": "application/vnd.example.sbom"}
    )
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [r2.headers["Docker-Content-Digest"]]


def test_referrers_subject_may_be_missing(client: httpx.Client) -> None:
    repo = unique_repo()
    ghost = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "ab" * 32, "size": 123}
    r, _ = _referrer(client, repo, ghost, "application/vnd.example.sig")
    assert r.status_code == 201
    assert r.headers["OCI-Subject"] == ghost["digest"]
    listed = client.get(f"/v2/{repo}/referrers/{ghost['digest']}").json()["manifests"]
    assert [m["digest"] for m in listed] == [r.headers["Docker-Content-Digest"]]


def test_referrers_unknown_digest_is_empty_index(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/referrers/sha256:{'0' * 64}")
    assert r.status_code == 200
    assert r.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    r = client.get(f"/v2/{repo}/referrers/sha256:bad")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_image_manifest_artifact_type_falls_back_to_config(client: httpx.Client) -> None:
    repo = unique_repo()
    digest, body = push_image(client, repo, "v1")
    _, child = image(client, repo, extra={"subject": descriptor(OCI_MANIFEST, body)})
    r = put_manifest(client, repo, "child", json.dumps(child).encode())
    assert r.status_code == 201
    listed = client.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"]
    assert listed[0]["artifactType"] == "application/vnd.oci.image.config.v1+json"
