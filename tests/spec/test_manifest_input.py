"""Manifests as hostile or sloppy input (issue 8, items 10 and 13): nesting depth,
what counts as JSON (UTF-8 only, no NaN, no duplicate names), schemaVersion,
mediaType against Content-Type and shape, descriptor sizes, and what a client that
reads only Docker types is handed."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.spec.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    error_codes,
    image,
    push_image,
    put_manifest,
    sha256,
    unique_repo,
)

DOCKER_ONLY = f"{DOCKER_MANIFEST}, {DOCKER_LIST}"


def _refused(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 400, r.text
    assert error_codes(r) == ["MANIFEST_INVALID"], r.text
    message = r.json()["errors"][0]["message"]
    for word in words:
        assert word in message, message


def _nested(depth: int) -> str:
    """A JSON value `depth` arrays deep."""
    return "[" * depth + "]" * depth


def test_nesting_depth_is_bounded(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo)
    plain = json.dumps(manifest)[:-1]  # the top-level object, still open
    # the top-level object is one level: an extension field may go 63 arrays deeper
    body = f'{plain}, "x-extension": {_nested(63)}}}'.encode()
    assert put_manifest(client, repo, "deep-ok", body).status_code == 201
    body = f'{plain}, "x-extension": {_nested(64)}}}'.encode()
    _refused(put_manifest(client, repo, "too-deep", body), "nest", "64")
    # 10,000 levels used to escape as a RecursionError: 500
    body = f'{plain}, "x-extension": {_nested(10_000)}}}'.encode()
    _refused(put_manifest(client, repo, "far-too-deep", body), "nest")
    # brackets inside strings are text, not nesting
    manifest["annotations"] = {"org.example.brackets": "[{" * 5000}
    assert put_manifest(client, repo, "brackets", json.dumps(manifest).encode()).status_code == 201
    for tag in ("too-deep", "far-too-deep"):
        assert client.head(f"/v2/{repo}/manifests/{tag}").status_code == 404


def test_only_utf8_json_without_bom(client: httpx.Client) -> None:
    repo = unique_repo()
    body, manifest = image(client, repo)
    text = body.decode()
    for encoded in (
        text.encode("utf-16"),  # with its BOM
        text.encode("utf-16-be"),
        text.encode("utf-32-le"),
    ):
        _refused(put_manifest(client, repo, "utf16", encoded), "UTF-8")
    _refused(put_manifest(client, repo, "bom", b"\xef\xbb\xbf" + body), "byte order mark")
    # a lone surrogate is not a character UTF-8 can carry
    manifest["annotations"] = {"org.example.note": "\ud800"}
    _refused(put_manifest(client, repo, "surrogate", json.dumps(manifest).encode()), "surrogate")
    # a proper pair (an emoji, escaped) is fine
    manifest["annotations"] = {"org.example.note": "\U0001f433"}
    assert put_manifest(client, repo, "pair", json.dumps(manifest).encode()).status_code == 201
    for tag in ("utf16", "bom", "surrogate"):
        assert client.head(f"/v2/{repo}/manifests/{tag}").status_code == 404


def test_nan_and_infinity_are_not_json(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo)
    plain = body.decode()[:-1]
    for constant in ("NaN", "Infinity", "-Infinity"):
        r = put_manifest(client, repo, "nan", f'{plain}, "x-extension": {constant}}}'.encode())
        _refused(r, constant)
    assert client.head(f"/v2/{repo}/manifests/nan").status_code == 404


def test_schema_version_must_be_the_integer_2(client: httpx.Client) -> None:
    repo = unique_repo()
    body, _ = image(client, repo)
    for version in ("2.0", "2e0", "true", '"2"'):
        odd = body.replace(b'"schemaVersion": 2', b'"schemaVersion": ' + version.encode())
        r = put_manifest(client, repo, "v", odd)
        _refused(r, "schemaVersion")
    assert client.head(f"/v2/{repo}/manifests/v").status_code == 404


def test_duplicate_and_case_variant_names_refused(client: httpx.Client) -> None:
    repo = unique_repo()
    body, manifest = image(client, repo)
    plain = body.decode()[:-1]
    # the same name twice: parsers disagree on which one counts
    _refused(put_manifest(client, repo, "dup", f'{plain}, "layers": []}}'.encode()), "layers")
    inner = body.replace(b'"size": ', b'"size": 1, "size": ', 1)
    _refused(put_manifest(client, repo, "dup", inner), "size")
    # Go's encoding/json (containerd, docker, skopeo) matches field names ignoring case:
    # it would read "Layers" where we read "layers"
    _refused(put_manifest(client, repo, "dup", f'{plain}, "Layers": []}}'.encode()), "Layers")
    case = body.replace(b'"digest": ', b'"Digest": ', 1)
    _refused(put_manifest(client, repo, "dup", case), "Digest")
    # other names are free to differ in case
    manifest["annotations"] = {"org.example.A": "1", "org.example.a": "2"}
    assert put_manifest(client, repo, "ok", json.dumps(manifest).encode()).status_code == 201
    assert client.head(f"/v2/{repo}/manifests/dup").status_code == 404


def test_media_type_agrees_with_content_type_and_shape(client: httpx.Client) -> None:
    repo = unique_repo()
    _, manifest = image(client, repo, media_type=DOCKER_MANIFEST)
    # Docker schema2 requires its mediaType in the body (distribution refuses it too):
    # without it, a Docker client is handed a document it rejects
    del manifest["mediaType"]
    r = put_manifest(client, repo, "d", json.dumps(manifest).encode(), DOCKER_MANIFEST)
    _refused(r, "mediaType")
    # a manifest carrying an index's list, or an index carrying layers, is ambiguous
    _, oci = image(client, repo)
    r = put_manifest(client, repo, "m", json.dumps({**oci, "manifests": []}).encode())
    _refused(r, "manifests")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}
    _refused(put_manifest(client, repo, "i", json.dumps(index).encode(), OCI_INDEX), "layers")
    for tag in ("d", "m", "i"):
        assert client.head(f"/v2/{repo}/manifests/{tag}").status_code == 404


def test_descriptor_size_is_an_int64(client: httpx.Client) -> None:
    """Sizes no stored blob is compared with: a foreign layer's and a subject's."""
    repo = unique_repo()
    _, manifest = image(client, repo)
    foreign = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": sha256(b"elsewhere"),
        "size": 9,
        "urls": ["https://example.invalid/layer"],
    }
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(b"some image"), "size": 10}
    ok = {**manifest, "layers": [*manifest["layers"], foreign], "subject": subject}
    assert put_manifest(client, repo, "ok", json.dumps(ok).encode()).status_code == 201
    for size in (2**63, 2**70, 10.0):
        for bad in (
            {**ok, "layers": [*manifest["layers"], {**foreign, "size": size}]},
            {**ok, "subject": {**subject, "size": size}},
        ):
            _refused(put_manifest(client, repo, "s", json.dumps(bad).encode()), "size", "2^63-1")
    assert client.head(f"/v2/{repo}/manifests/s").status_code == 404


def _index_of(children: list[dict[str, Any]]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()


def test_index_child_size_must_match(client: httpx.Client) -> None:
    repo = unique_repo()
    digest, body = push_image(client, repo, "child")
    good = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    r = put_manifest(client, repo, "idx", _index_of([good]), OCI_INDEX)
    assert r.status_code == 201, r.text
    for size in (len(body) + 1, len(body) - 1, 0):
        bad = {**good, "size": size}
        r = put_manifest(client, repo, "bad", _index_of([bad]), OCI_INDEX)
        _refused(r, "size", str(size), str(len(body)))
    assert client.head(f"/v2/{repo}/manifests/bad").status_code == 404


def _docker_list(children: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children}
    ).encode()


def test_docker_only_client_is_never_handed_an_oci_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    oci_digest, oci_body = push_image(client, repo, "oci")
    docker_digest, docker_body = push_image(client, repo, "docker", media_type=DOCKER_MANIFEST)
    amd64 = {"os": "linux", "architecture": "amd64"}
    # a Docker list whose linux/amd64 entry claims a Docker type but is an OCI manifest
    lying = {"mediaType": DOCKER_MANIFEST, "digest": oci_digest, "size": len(oci_body)}
    r = put_manifest(
        client, repo, "lying", _docker_list([{**lying, "platform": amd64}]), DOCKER_LIST
    )
    assert r.status_code == 201, r.text
    for method in ("GET", "HEAD"):
        for ref in ("oci", oci_digest, "lying"):
            r = client.request(
                method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": DOCKER_MANIFEST}
            )
            assert r.status_code == 404, (method, ref, r.headers.get("content-type"))
            assert r.headers.get("Docker-Content-Digest") is None
            if method == "GET":
                assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    # an OCI index is not unpacked for a Docker client (distribution answers 404 too)
    child = {"mediaType": DOCKER_MANIFEST, "digest": docker_digest, "size": len(docker_body)}
    index = _index_of([{**child, "platform": amd64}])
    assert put_manifest(client, repo, "oci-index", index, OCI_INDEX).status_code == 201
    r = client.get(f"/v2/{repo}/manifests/oci-index", headers={"Accept": DOCKER_ONLY})
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    # a Docker list by tag still resolves to its linux/amd64 Docker manifest
    docker = _docker_list([{**child, "platform": amd64}])
    assert put_manifest(client, repo, "list", docker, DOCKER_LIST).status_code == 201
    r = client.get(f"/v2/{repo}/manifests/list", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == DOCKER_MANIFEST
    assert r.headers["Docker-Content-Digest"] == docker_digest
    assert r.content == docker_body
    # and, as distribution does, Docker types are served whatever the Accept list says
    for ref, media_type in (("docker", DOCKER_MANIFEST), (sha256(docker), DOCKER_LIST)):
        r = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200, ref
        assert r.headers["Content-Type"] == media_type
