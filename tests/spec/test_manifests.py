"""Manifests: push/pull by tag and digest, every type, validation, negotiation, deletes."""

from __future__ import annotations

import json
import os

import httpx

from tests.spec.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    unique_repo,
)

ALL_TYPES = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def test_put_get_head_by_tag_and_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo, layers=2)
    r = put_manifest(client, repo, "v1", body)
    assert r.status_code == 201, r.text
    digest = sha256(body)
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"] == f"/v2/{repo}/manifests/{digest}"
    for ref in ("v1", digest):
        g = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert g.status_code == 200
        assert g.content == body  # byte for byte
        assert g.headers["Content-Type"] == OCI_MANIFEST
        assert g.headers["Docker-Content-Digest"] == digest
        h = client.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert h.status_code == 200
        assert h.headers["Content-Length"] == str(len(body))
        assert h.headers["Docker-Content-Digest"] == digest
        assert h.headers["Content-Type"] == OCI_MANIFEST


def test_bytes_preserved_exactly(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo)
    odd = json.dumps(manifest, indent=7, sort_keys=True).encode() + b"\n\n"
    r = put_manifest(client, repo, "odd", odd)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == sha256(odd)
    assert client.get(f"/v2/{repo}/manifests/odd").content == odd


def test_put_by_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo)
    r = put_manifest(client, repo, sha256(body), body)
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/manifests/{sha256(body)}").content == body
    # the digest in the URL must match the content
    other, _ = image(client, repo)
    r = put_manifest(client, repo, sha256(body), other)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_docker_schema2_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    _digest, body = push_image(client, repo, "d", media_type=DOCKER_MANIFEST)
    g = client.get(f"/v2/{repo}/manifests/d", headers={"Accept": DOCKER_MANIFEST})
    assert g.headers["Content-Type"] == DOCKER_MANIFEST
    assert g.content == body


def _index(client: httpx.Client, repo: str, media_type: str, child_type: str) -> bytes:
    children = []
    for arch in ("amd64", "arm64"):
        _d, body = push_image(client, repo, f"child-{arch}", media_type=child_type)
        children.append(
            {**descriptor(child_type, body), "platform": {"os": "linux", "architecture": arch}}
        )
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": children}).encode()


def test_oci_index_and_docker_list(client: httpx.Client) -> None:
    repo = unique_repo()
    for idx_type, child_type in ((OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)):
        body = _index(client, repo, idx_type, child_type)
        r = put_manifest(client, repo, "multi", body, idx_type)
        assert r.status_code == 201, r.text
        g = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": ALL_TYPES})
        assert g.content == body
        assert g.headers["Content-Type"] == idx_type


def test_index_with_unknown_child(client: httpx.Client) -> None:
    repo = unique_repo()
    missing = sha256(b"no such manifest")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 10}],
        }
    ).encode()
    r = put_manifest(client, repo, "bad", body, OCI_INDEX)
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.head(f"/v2/{repo}/manifests/bad").status_code == 404


def test_missing_blob_refused(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo)
    missing = os.urandom(50)
    manifest["layers"].append(descriptor("application/vnd.oci.image.layer.v1.tar", missing))
    r = put_manifest(client, repo, "v1", json.dumps(manifest).encode())
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert r.json()["errors"][0]["detail"] == {"digest": sha256(missing)}
    assert client.head(f"/v2/{repo}/manifests/v1").status_code == 404


def test_blob_in_other_repository_is_not_enough(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    body, _ = image(client, a)
    r = put_manifest(client, b, "v1", body)
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_foreign_layers_need_not_exist(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo, media_type=DOCKER_MANIFEST)
    manifest["layers"].append(
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": sha256(b"windows base layer"),
            "size": 18,
            "urls": ["https://example.invalid/layer"],
        }
    )
    r = put_manifest(client, repo, "win", json.dumps(manifest).encode(), DOCKER_MANIFEST)
    assert r.status_code == 201, r.text


def test_artifact_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    empty = b"{}"
    push_blob(client, repo, empty)
    payload = os.urandom(300)
    push_blob(client, repo, payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1+json",
        "config": descriptor(OCI_EMPTY, empty),
        "layers": [descriptor("application/vnd.example.sbom.layer+json", payload)],
    }
    r = put_manifest(client, repo, "sbom", json.dumps(manifest).encode())
    assert r.status_code == 201, r.text
    # any config media type
    cfg = b'{"helm": true}'
    push_blob(client, repo, cfg)
    manifest2 = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.cncf.helm.config.v1+json", cfg),
        "layers": [descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", payload)],
    }
    assert put_manifest(client, repo, "chart", json.dumps(manifest2).encode()).status_code == 201


def test_invalid_manifests(client: httpx.Client) -> None:
    repo = unique_repo()
    body, manifest = image(client, repo)
    cases = [
        b"not json",
        b"[]",
        json.dumps({**manifest, "schemaVersion": 1}).encode(),
        json.dumps({k: v for k, v in manifest.items() if k != "config"}).encode(),
        json.dumps(
            {**manifest, "layers": [{"mediaType": "x/y", "digest": "sha256:zz", "size": 1}]}
        ).encode(),
        json.dumps(
            {**manifest, "layers": [{"mediaType": "x/y", "digest": sha256(b""), "size": -1}]}
        ).encode(),
        json.dumps({**manifest, "mediaType": DOCKER_MANIFEST}).encode(),  # vs Content-Type
    ]
    for case in cases:
        r = put_manifest(client, repo, "bad", case)
        assert r.status_code == 400, (case[:60], r.text)
        assert error_codes(r) == ["MANIFEST_INVALID"], case[:60]
    r = put_manifest(
        client, repo, "bad", body, "application/vnd.docker.distribution.manifest.v1+prettyjws"
    )
    assert r.status_code == 400
    assert client.head(f"/v2/{repo}/manifests/bad").status_code == 404


def test_descriptor_size_must_match_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo)
    manifest["layers"][0]["size"] += 1
    r = put_manifest(client, repo, "v1", json.dumps(manifest).encode())
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_INVALID"]


def test_oversized_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo)
    manifest["annotations"] = {"pad": "x" * (4 * 1024 * 1024)}
    r = put_manifest(client, repo, "huge", json.dumps(manifest).encode())
    assert r.status_code == 413
    assert error_codes(r) == ["SIZE_INVALID"]
    assert client.head(f"/v2/{repo}/manifests/huge").status_code == 404


def test_invalid_tag(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo)
    for tag in ("-leading-dash", "a" * 129, ".dot"):
        r = put_manifest(client, repo, tag, body)
        assert r.status_code == 400, tag
        assert error_codes(r) == ["MANIFEST_INVALID"]


def test_manifest_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    for ref in ("nope", sha256(b"nope")):
        for method in ("GET", "HEAD"):
            r = client.request(method, f"/v2/{repo}/manifests/{ref}")
            assert r.status_code == 404
    assert error_codes(client.get(f"/v2/{repo}/manifests/nope")) == ["MANIFEST_UNKNOWN"]


def test_accept_negotiation(client: httpx.Client) -> None:
    repo = unique_repo()
    _digest, body = push_image(client, repo, "v1")
    # several Accept lines are combined
    r = client.get(
        f"/v2/{repo}/manifests/v1", headers=[("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST)]
    )
    assert r.status_code == 200 and r.content == body
    # no Accept and wildcard get the stored manifest
    assert client.get(f"/v2/{repo}/manifests/v1").content == body
    assert client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": "*/*"}).content == body
    # a client that cannot read the stored type gets 404, not mislabelled bytes
    r = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_index_resolves_to_amd64_for_old_clients(client: httpx.Client) -> None:
    repo = unique_repo()
    body = _index(client, repo, DOCKER_LIST, DOCKER_MANIFEST)
    assert put_manifest(client, repo, "multi", body, DOCKER_LIST).status_code == 201
    amd64 = json.loads(body)["manifests"][0]["digest"]
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == amd64


def test_tag_moves_and_is_seen_at_once(client: httpx.Client) -> None:
    repo = unique_repo()
    d1, _ = push_image(client, repo, "latest")
    # warm every worker's cache on the old value over many connections
    for _ in range(20):
        with httpx.Client(base_url=str(client.base_url), auth=client.auth) as c:
            assert c.head(f"/v2/{repo}/manifests/latest").headers["Docker-Content-Digest"] == d1
    d2, _ = push_image(client, repo, "latest")
    assert d1 != d2
    for _ in range(20):
        with httpx.Client(base_url=str(client.base_url), auth=client.auth) as c:
            assert c.head(f"/v2/{repo}/manifests/latest").headers["Docker-Content-Digest"] == d2


def test_delete_by_tag_removes_only_the_tag(client: httpx.Client) -> None:
    repo = unique_repo()
    digest, _ = push_image(client, repo, "v1")
    for _ in range(5):  # warm caches
        client.head(f"/v2/{repo}/manifests/v1")
    r = client.delete(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 202
    assert client.head(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.head(f"/v2/{repo}/manifests/{digest}").status_code == 200
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 404


def test_delete_by_digest_removes_manifest_and_tags(client: httpx.Client) -> None:
    repo = unique_repo()
    digest, body = push_image(client, repo, "v1")
    put_manifest(client, repo, "v2", body)
    for ref in ("v1", "v2", digest):
        assert client.head(f"/v2/{repo}/manifests/{ref}").status_code == 200
    r = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 202
    for ref in ("v1", "v2", digest):
        assert client.head(f"/v2/{repo}/manifests/{ref}").status_code == 404
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    # blobs stay until GC
    cfg = json.loads(body)["config"]["digest"]
    assert client.head(f"/v2/{repo}/blobs/{cfg}").status_code == 200
    r = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]
